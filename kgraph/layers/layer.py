"""The Layer base class: weights, build-on-first-call, and one `call` that runs three ways.

`layer(x)` on a KerasTensor (model definition) checks the input, builds the weights, and traces `call` on a
scratch graph to learn the output shape, so shape errors surface at build time with the layer's name. On a
symbolic tensor (a program being traced) it adds the layer's ops to that graph. On an array it runs eagerly.
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings

import numpy as np

from kgraph import initializers, ops, regularizers
from kgraph.ir.builder import Sym, as_sym, current_graph, origin, tracing
from kgraph.ir.graph import Graph
from kgraph.layers.input_spec import InputSpec, check_input_spec
from kgraph.layers.keras_tensor import KerasTensor, to_structure
from kgraph.variables import Variable, weight_lists_changed, weight_lists_version

_name_counts: dict[str, int] = {}


def unique_name(base: str) -> str:
    """`dense`, then `dense_1`, `dense_2`... as Keras names layers within a session."""
    count = _name_counts.get(base, 0)
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def reset_names() -> None:
    _name_counts.clear()


def snake_case(name: str) -> str:
    """Keras's snake case of a class name: `Conv2DTranspose` -> `conv2d_transpose` (digits join the word)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Layer:
    """Base class of all layers.

    Args:
        trainable: whether the layer's weights are updated by training.
        name: a unique name (default: the class name in snake case, numbered).
        dtype: only float32 is supported.
        activity_regularizer: a penalty on the layer's outputs, added to the loss.
        input_shape, input_dim, batch_size: Keras 2 style input declaration for a first layer (prefer Input).
    """

    def __init__(
        self, trainable: bool = True, name: str | None = None, dtype=None, activity_regularizer=None, **kwargs
    ):
        allowed = {"input_shape", "input_dim", "batch_input_shape", "batch_size", "autocast"}
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: "
                f"{dict((k, kwargs[k]) for k in sorted(unknown))}"
            )
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"Layer '{name}': only float32 is supported, received dtype={dtype!r}.")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = trainable
        self.built = False
        self.input_spec: InputSpec | list[InputSpec] | None = None
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._weights: list[Variable] = []
        self._inbound_nodes: list = []
        self.supports_masking = False
        self._batch_input_shape = self._declared_input_shape(kwargs)

    def _declared_input_shape(self, kwargs) -> tuple | None:
        if "batch_input_shape" in kwargs:
            return tuple(kwargs["batch_input_shape"])
        shape = kwargs.get("input_shape")
        if shape is None and kwargs.get("input_dim") is not None:
            shape = (kwargs["input_dim"],)
        if shape is None:
            return None
        warnings.warn(
            f"Do not pass an `input_shape`/`input_dim` argument to a layer ('{self.name}'). When using "
            "Sequential models, prefer using an `Input(shape)` object as the first layer in the model "
            "instead.",
            UserWarning,
            stacklevel=3,
        )
        return (kwargs.get("batch_size"), *tuple(shape))

    # --- weights -----------------------------------------------------------------------------------
    def add_weight(
        self,
        shape=None,
        initializer=None,
        dtype=None,
        trainable: bool = True,
        regularizer=None,
        constraint=None,
        name: str | None = None,
        **kwargs,
    ) -> Variable:
        """Creates a weight of this layer (Keras's signature; float32 only)."""
        shape = tuple(shape or ())
        if initializer is None:
            initializer = "glorot_uniform" if len(shape) > 1 else "zeros"
        value = initializers.get(initializer)(shape, dtype="float32")
        variable = Variable(
            value, trainable=trainable, name=name or f"variable_{len(self._weights)}", dtype=dtype
        )
        variable.path = f"{self.name}/{variable.name}"
        variable.regularizer = regularizers.get(regularizer)
        variable.constraint = constraint
        self._weights.append(variable)
        weight_lists_changed()
        return variable

    add_variable = add_weight

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

    @property
    def weights(self) -> list[Variable]:
        return list(self._weight_lists()[0])

    @property
    def trainable_weights(self) -> list[Variable]:
        return list(self._weight_lists()[1])

    def _weight_lists(self) -> tuple[list[Variable], list[Variable]]:
        """(weights, trainable weights), own then sublayers', kept until a layer, its attributes, weights or
        a trainable flag change (a custom training loop reads `trainable_weights` twice per step)."""
        cached = self.__dict__.get("_weight_lists_cache")
        if cached is not None and cached[0] == weight_lists_version():
            return cached[1]
        weights, trainable = list(self._weights), [w for w in self._weights if w.trainable]
        for layer in self._sublayers():
            sub_weights, sub_trainable = layer._weight_lists()
            weights += sub_weights
            trainable += sub_trainable
        lists = (weights, trainable if self.trainable else [])
        self.__dict__["_weight_lists_cache"] = (weight_lists_version(), lists)  # not __setattr__: no bump
        return lists

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {w.key for w in self.trainable_weights}
        return [w for w in self.weights if w.key not in trainable]

    trainable_variables = trainable_weights
    non_trainable_variables = non_trainable_weights
    variables = weights

    def _sublayers(self) -> list[Layer]:
        """Layers assigned to this layer's attributes (directly or in a list), in assignment order."""
        return list(self.__dict__.get("_tracked_layers", {}).values())

    def __setattr__(self, name: str, value) -> None:
        weight_lists_changed()  # any attribute may hold a sublayer, a weight list or the trainable flag
        # Track sublayers the way Keras does, so their weights are this layer's weights.
        if not name.startswith("_"):
            items = value if isinstance(value, list | tuple) else [value]
            layers = [v for v in items if isinstance(v, Layer)]
            if layers:
                tracked = self.__dict__.setdefault("_tracked_layers", {})
                for layer in layers:
                    tracked.setdefault(id(layer), layer)
        object.__setattr__(self, name, value)

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(
                f"Layer '{self.name}' expected {len(mine)} weights, but received {len(weights)} "
                f"weights ({[np.shape(w) for w in weights]})."
            )
        for variable, value in zip(mine, weights, strict=True):
            if tuple(np.shape(value)) != variable.shape:
                raise ValueError(
                    f"Layer '{self.name}' weight shape {variable.shape} is not compatible with "
                    f"provided weight shape {np.shape(value)} (weight '{variable.path}')."
                )
        for variable, value in zip(mine, weights, strict=True):
            variable.assign(np.asarray(value, np.float32))

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't "
                "built. You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(np.prod(w.shape, dtype=np.int64) for w in self.weights))

    # --- building and calling ----------------------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, training=None):
        raise NotImplementedError(f"Layer {type(self).__name__} does not implement `call()`.")

    def compute_mask(self, inputs, previous_mask=None):
        """The mask of the outputs, as in Keras: layers that support masking pass their input's mask on."""
        return previous_mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        """Output shape(s) for `input_shape`, found by tracing `call` (layers may override)."""
        shapes = input_shape if _is_shape_list(input_shape) else [input_shape]
        graph = Graph()
        with tracing(graph), origin(self.name):
            syms = [
                Sym(graph, graph.add("input", name=f"shape{i}", shape=tuple(s))) for i, s in enumerate(shapes)
            ]
            out = self.call(syms if _is_shape_list(input_shape) else syms[0])
        return to_structure(out, lambda s: tuple(s.shape))

    def _ensure_built(self, input_shape) -> None:
        if not self.built:
            self.build(input_shape)
            self.built = True

    def __call__(self, inputs, training=None, **kwargs):
        flat = inputs if isinstance(inputs, list | tuple) else [inputs]
        if any(isinstance(x, KerasTensor) for x in flat):
            return self._call_symbolic(inputs, training, **kwargs)
        shapes = [tuple(np.shape(x)) if not isinstance(x, Sym) else tuple(x.shape) for x in flat]
        if any(not isinstance(x, Sym) for x in flat):
            shapes = [(None, *s[1:]) if s else s for s in shapes]
        check_input_spec(self, self.input_spec, shapes)
        self._ensure_built(shapes if isinstance(inputs, list | tuple) else shapes[0])
        check_input_spec(self, self.input_spec, shapes)
        graph = current_graph()
        if graph is not None and graph.nx.graph.get("feeds") is not None:  # arrays on a gradient tape
            flat = [x if isinstance(x, Sym) else as_sym(np.asarray(x, np.float32), graph) for x in flat]
            inputs = flat if isinstance(inputs, list | tuple) else flat[0]
        if not any(isinstance(x, Sym) for x in flat):
            inputs = (
                [np.asarray(x, np.float32) for x in flat]
                if isinstance(inputs, list | tuple)
                else np.asarray(inputs, np.float32)
            )
        with origin(self.name):
            outputs = (
                self.call(inputs, training=training, **kwargs)
                if self._accepts_training()
                else self.call(inputs, **kwargs)
            )
        if self.activity_regularizer is not None and isinstance(outputs, Sym):
            # Keras divides the activity penalty by the batch size (static on a gradient tape).
            with origin(self.name):
                self.add_loss(self.activity_regularizer(outputs) / ops.count(outputs, axis=0))
        return outputs

    def add_loss(self, loss) -> None:
        """Adds a term to the loss of the program being traced (eagerly, it is ignored)."""
        graph = current_graph()
        if graph is not None:
            graph.nx.graph.setdefault("added_losses", []).append(loss)
            graph.nx.graph.setdefault("added_loss_owners", []).append(id(self))

    @property
    def losses(self) -> list:
        """The scalar losses of this layer and its sublayers, in Keras's order: the terms `add_loss` added
        (activity regularizers included) during the calls traced into the current program, then the penalties
        of the trainable weights' regularizers. Tensors of the program being traced (a gradient tape, a custom
        train_step); eagerly, float32 scalars of the weight penalties.
        """
        losses = []
        graph = current_graph()
        if graph is not None:
            mine = {id(layer) for layer in self._flatten_layers()}
            state = graph.nx.graph
            added = zip(state.get("added_losses", []), state.get("added_loss_owners", []), strict=True)
            losses = [loss for loss, owner in added if owner in mine]
        for variable in self.trainable_weights:
            if variable.regularizer is not None:
                with origin(f"{variable.path}/regularizer"):
                    penalty = variable.regularizer(variable)
                losses.append(penalty if graph is not None else np.float32(penalty))
        return losses

    def _flatten_layers(self) -> list[Layer]:
        """This layer, then its sublayers depth first."""
        return [self, *(layer for sub in self._sublayers() for layer in sub._flatten_layers())]

    def _accepts_training(self) -> bool:
        return _call_takes_training(type(self))

    def _call_symbolic(self, inputs, training, **kwargs):
        from kgraph.layers.keras_tensor import CallNode

        flat = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        shapes = [kt.shape for kt in flat]
        check_input_spec(self, self.input_spec, shapes)
        self._ensure_built(shapes if isinstance(inputs, list | tuple) else shapes[0])
        check_input_spec(self, self.input_spec, shapes)
        shape_kwargs = {k: v for k, v in kwargs.items() if k in _output_shape_arguments(type(self))}
        out_shapes = self.compute_output_shape(
            shapes if isinstance(inputs, list | tuple) else shapes[0], **shape_kwargs
        )
        node = CallNode(self, flat, isinstance(inputs, list | tuple), training, kwargs)
        outputs = to_structure(out_shapes, lambda s: KerasTensor(s, node=node), leaf=_is_shape)
        node.outputs = outputs if isinstance(outputs, list) else [outputs]
        self._inbound_nodes.append(node)
        return outputs

    # --- config ------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = self._batch_input_shape
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _is_shape(x) -> bool:
    return isinstance(x, tuple) and all(d is None or isinstance(d, int | np.integer) for d in x)


def _is_shape_list(x) -> bool:
    return isinstance(x, list | tuple) and len(x) > 0 and all(isinstance(s, list | tuple) for s in x)


@functools.cache
def call_takes_mask(layer_class: type) -> bool:
    """Whether a layer class's `call` takes a `mask` (models pass implicit masks to those that do)."""
    return "mask" in inspect.signature(layer_class.call).parameters


@functools.cache
def _output_shape_arguments(layer_class: type) -> frozenset:
    """Call arguments that change a layer's outputs (Attention's `return_attention_scores`): those its
    `compute_output_shape` takes besides the input shape."""
    parameters = inspect.signature(layer_class.compute_output_shape).parameters
    return frozenset(parameters) - {"self", "input_shape"}


@functools.cache
def _call_takes_training(layer_class: type) -> bool:
    """Whether a layer class's `call` has a `training` argument (inspected once per class)."""
    return "training" in inspect.signature(layer_class.call).parameters

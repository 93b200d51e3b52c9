"""Model: layers connected by calls on KerasTensors (the functional API), trained by `Trainer`."""

from __future__ import annotations

import numpy as np

from kgraph.ir.builder import Sym, current_graph, set_keras_mask
from kgraph.layers.core.input_layer import Input, InputLayer
from kgraph.layers.keras_tensor import CallNode, KerasTensor
from kgraph.layers.layer import Layer, call_takes_mask
from kgraph.models.layer_order import keras_layer_order
from kgraph.models.programs import flat_outputs
from kgraph.models.trainer import Trainer
from kgraph.saving.model_saving import ModelSavingMixin


class Model(ModelSavingMixin, Trainer, Layer):
    """A functional model: `Model(inputs, outputs)`.

    Args:
        inputs: a KerasTensor from `Input`, or a list or dict of them.
        outputs: the KerasTensor(s) computed from the inputs (single, list or dict).
        name: the model's name.
    """

    def __init__(self, inputs=None, outputs=None, name: str | None = None, trainable: bool = True, **kwargs):
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self._input_dict_keys = None
        self._output_dict_keys = None
        self._subclassed = inputs is None and outputs is None
        if self._subclassed:  # layers come from __init__'s attributes, the graph from tracing `call`
            self.built = False
        else:
            self._init_graph(inputs, outputs)

    # --- the graph of layer calls ------------------------------------------------------------------
    def _init_graph(self, inputs, outputs) -> None:
        if isinstance(inputs, dict):
            self._input_dict_keys = list(inputs)
            inputs = list(inputs.values())
        if isinstance(outputs, dict):
            self._output_dict_keys = list(outputs)
            outputs = list(outputs.values())
        self._inputs_as_list = isinstance(inputs, list | tuple)
        self._outputs_as_list = isinstance(outputs, list | tuple)
        self.inputs = list(inputs) if self._inputs_as_list else [inputs]
        self.outputs = list(outputs) if self._outputs_as_list else [outputs]
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise ValueError(
                    f"Model '{self.name}': inputs and outputs must be KerasTensors (from Input and "
                    f"layer calls), received {t!r}."
                )
        self._nodes = _topological_nodes(self.inputs, self.outputs)
        self._layers = keras_layer_order(self.inputs, self.outputs, self._output_dict_keys)
        self.built = True

    def _build_from_data_shape(self, shape) -> None:
        """A subclassed model is built by tracing its `call` on an input of the data's shape."""
        if not self._subclassed:
            raise ValueError(f"Model '{self.name}' has no input shape.")
        inputs = Input(batch_shape=(None, *tuple(shape)[1:]))
        self.built = True  # `call` runs below; the sublayers build themselves
        try:
            out = self.compute_output_shape(inputs.shape)
        except Exception:
            self.built = False
            raise
        shapes = out if isinstance(out, list) else [out]
        self.inputs = [inputs]
        self.outputs = [KerasTensor(s, name=f"output_{i}") for i, s in enumerate(shapes)]
        self._outputs_as_list = isinstance(out, list)

    def build(self, input_shape=None) -> None:
        if self._subclassed and not self.built:
            self._build_from_data_shape(input_shape)

    @property
    def layers(self) -> list[Layer]:
        return self._sublayers() if self._subclassed else list(self._layers)

    def _sublayers(self) -> list[Layer]:
        if self._subclassed:
            return Layer._sublayers(self)
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    @property
    def input_names(self) -> list[str]:
        if self._subclassed:
            return ["input_layer"]
        return self._input_dict_keys or [t.node.layer.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        if self._subclassed:
            return [f"output_{i}" for i in range(len(self.outputs))] if self.built else []
        return self._output_dict_keys or [t.node.layer.name for t in self.outputs]

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes if len(shapes) > 1 else shapes[0]

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes if len(shapes) > 1 else shapes[0]

    def __call__(self, inputs, training=None, **kwargs):
        """Symbolic inputs trace the model; a numpy array at inference runs the compiled predict program."""
        graph = current_graph()
        if type(inputs) is np.ndarray and getattr(graph, "call_span", None) is not None:  # a loop's step
            outputs = self._call_on_tape(graph, inputs, training, kwargs)
            return outputs if self._output_dict_keys is None else self._structured(outputs)
        if isinstance(inputs, dict) and not self._subclassed:
            missing = [name for name in self.input_names if name not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}' expects inputs named {self.input_names}; the dict it received "
                    f"(keys {list(inputs)}) lacks {missing}."
                )
            flat = [inputs[name] for name in self.input_names]
            inputs = flat if len(flat) > 1 else flat[0]
        if not training and not kwargs and isinstance(inputs, np.ndarray) and graph is None:
            outputs = self._predict_quietly(inputs, max(len(inputs), 1))
            if outputs is not None:
                return outputs
        if getattr(graph, "call_span", None) is None:
            return self._structured(super().__call__(inputs, training=training, **kwargs))
        return self._structured(self._call_on_tape(graph, inputs, training, kwargs))

    def _structured(self, outputs):
        """The outputs as the model was built: a dict by the keys it was given (as Keras returns them from a
        call and from predict), else as they are (one tensor or a list)."""
        if self._output_dict_keys is None:
            return outputs
        flat = outputs if isinstance(outputs, list | tuple) else [outputs]
        return dict(zip(self._output_dict_keys, flat, strict=True))

    def _call_on_tape(self, graph, inputs, training, kwargs):
        """A call inside a GradientTape: a functional model's call is recorded once and then skipped."""
        several = isinstance(inputs, (list, tuple))  # a tuple of types: `list | tuple` is built at each call
        if not self._subclassed and not kwargs and not isinstance(inputs, dict):
            if several:
                inputs = [x if isinstance(x, Sym) else graph.feed(np.asarray(x, np.float32)) for x in inputs]
                ids = tuple([x.id for x in inputs])
            else:
                inputs = inputs if isinstance(inputs, Sym) else graph.feed(np.asarray(inputs, np.float32))
                ids = inputs.id
            key = (self, training, ids)
            outputs = graph.call_span(key, lambda: Layer.__call__(self, inputs, training=training))
        else:
            outputs = Layer.__call__(self, inputs, training=training, **kwargs)
        graph.mark(outputs)  # the step returns the predictions too, for metrics read after it
        return outputs

    def call(self, inputs, training=None):
        flat = inputs if isinstance(inputs, list | tuple) else [inputs]
        if isinstance(inputs, dict):
            flat = [inputs[k] for k in self.input_names]
        if len(flat) != len(self.inputs):
            raise ValueError(
                f"Model '{self.name}' expects {len(self.inputs)} input(s), but it received "
                f"{len(flat)} input tensors."
            )
        values = {id(t): v for t, v in zip(self.inputs, flat, strict=True)}
        masked_calls = self.__dict__.setdefault("_masked_calls", set())  # saving writes their mask argument
        masks: dict[
            int, object
        ] = {}  # Keras's implicit masks (Embedding(mask_zero=True), Masking), by tensor
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            args = [values[id(t)] for t in node.inputs]
            arg = args if node.as_list else args[0]
            in_masks = [masks.get(id(t)) for t in node.inputs]
            mask = in_masks if node.as_list else in_masks[0]
            kwargs = dict(node.kwargs)
            if any(m is not None for m in in_masks) and call_takes_mask(type(node.layer)):
                kwargs.setdefault("mask", mask)
                masked_calls.add(id(node))
            out = node.layer(arg, training=training, **kwargs)
            out_masks = node.layer.compute_mask(arg, mask)
            outs = flat_outputs(out)
            out_masks = out_masks if isinstance(out_masks, list | tuple) else [out_masks] * len(outs)
            for t, v, m in zip(node.outputs, outs, out_masks, strict=True):
                values[id(t)] = v
                masks[id(t)] = m
        outputs = [values[id(t)] for t in self.outputs]
        for t, v in zip(self.outputs, outputs, strict=True):
            set_keras_mask(v, masks.get(id(t)))  # Keras weights the loss by an output's mask
        return outputs if self._outputs_as_list or len(outputs) > 1 else outputs[0]

    def compute_output_shape(self, input_shape):
        if self._subclassed:
            return Layer.compute_output_shape(self, input_shape)
        shapes = [t.shape for t in self.outputs]
        return shapes if self._outputs_as_list else shapes[0]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None and name is not None:
            raise ValueError(
                f"Provide only a layer name or a layer index. Received: index={index}, name={name}."
            )
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(self.layers)} layers."
                )
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No such layer: {name}. Existing layers are: {[layer.name for layer in self.layers]}."
        )

    def summary(
        self,
        line_length=None,
        positions=None,
        print_fn=None,
        expand_nested=False,
        show_trainable=False,
        layer_range=None,
    ) -> None:
        from kgraph.models.summary import print_summary

        print_summary(self, print_fn or print)


def _topological_nodes(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[CallNode]:
    """The layer calls between `inputs` and `outputs`, each after the calls that feed it."""
    ordered: list[CallNode] = []
    seen: set[int] = set()
    input_ids = {id(t) for t in inputs}

    def visit(tensor: KerasTensor, path: tuple) -> None:
        node = tensor.node
        if node is None:
            raise ValueError(
                f"{tensor!r} was not produced by a layer; build models from Input(...) and layer calls."
            )
        if id(node) in seen:
            return
        if id(tensor) not in input_ids:
            if not node.inputs and not isinstance(node.layer, InputLayer):
                raise ValueError(f"Graph disconnected: cannot reach {tensor!r} from the model's inputs.")
            if isinstance(node.layer, InputLayer):
                raise ValueError(
                    f"Graph disconnected: cannot obtain value for tensor {tensor!r} at layer "
                    f"'{node.layer.name}'. The following previous layers were accessed without "
                    f"issue: {[n.layer.name for n in ordered]}"
                )
            for parent in node.inputs:
                visit(parent, (*path, node.layer.name))
        seen.add(id(node))
        ordered.append(node)

    for t in outputs:
        visit(t, ())
    return ordered

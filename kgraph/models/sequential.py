"""Sequential: a stack of layers, each taking the previous one's output."""

from __future__ import annotations

from kgraph.layers.core.input_layer import InputLayer
from kgraph.layers.keras_tensor import KerasTensor
from kgraph.layers.layer import Layer
from kgraph.models.model import Model
from kgraph.models.trainer import Trainer
from kgraph.variables import weight_lists_changed


class Sequential(Model):
    """A linear stack of layers.

    The model is built (weights created, shapes checked) as soon as its input shape is known: from an
    `Input`, from `input_shape`/`input_dim` on the first layer, or from the first data it sees.

    Example:
        >>> model = Sequential([Input((100,)), Dense(64, activation="relu"), Dense(10, activation="softmax")])
    """

    def __init__(self, layers=None, trainable: bool = True, name: str | None = None):
        Layer.__init__(self, trainable=trainable, name=name)
        Trainer.__init__(self)
        self._input_dict_keys = self._output_dict_keys = None
        self._subclassed = False
        self._stack: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._layers = []
        self.built = False
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_build()

    def add(self, layer, rebuild: bool = True) -> None:
        """Appends a layer (or an `Input`) to the stack."""
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError(
                    f"Sequential model '{self.name}' already has an input; an InputLayer can only be "
                    "the first layer."
                )
            self._input_layer = layer
        elif isinstance(layer, Layer):
            if any(existing is layer for existing in self._stack):
                raise ValueError(f"Layer '{layer.name}' is already in Sequential model '{self.name}'.")
            if not self._stack and self._input_layer is None and layer._batch_input_shape is not None:
                self._input_layer = InputLayer(batch_shape=layer._batch_input_shape)
            self._stack.append(layer)
            weight_lists_changed()
        else:
            raise ValueError(
                f"Only instances of `kgraph.layers.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer)})"
            )
        self._invalidate()
        if rebuild:
            self._maybe_build()

    def pop(self, rebuild: bool = True) -> Layer:
        """Removes and returns the last layer."""
        if not self._stack:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        weight_lists_changed()
        self._invalidate()
        if rebuild:
            self._maybe_build()
        return layer

    def _invalidate(self) -> None:
        self.built = False
        self._reset_compiled_programs()

    def _maybe_build(self) -> None:
        if self._input_layer is not None and self._stack:
            self._build_graph(self._input_layer)

    def build(self, input_shape=None) -> None:
        if input_shape is None and self._input_layer is None:
            raise ValueError(
                f"Sequential model '{self.name}' cannot be built: it has no input shape. Add an "
                "Input as its first layer, or call it on data."
            )
        if self._input_layer is None:
            self._input_layer = InputLayer(batch_shape=(None, *tuple(input_shape)[1:]))
        self._build_graph(self._input_layer)

    def _build_from_data_shape(self, shape) -> None:
        if not self.built:
            self.build((None, *tuple(shape)[1:]))

    def _build_graph(self, input_layer: InputLayer) -> None:
        x = input_layer.output
        for layer in self._stack:
            x = layer(x)
        self._init_graph(input_layer.output, x)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def _sublayers(self) -> list[Layer]:
        return list(self._stack)

    @property
    def input_names(self) -> list[str]:
        return [self._input_layer.name] if self._input_layer else ["input_layer"]

    @property
    def output_names(self) -> list[str]:
        return [self._stack[-1].name] if self._stack else []

    def call(self, inputs, training=None):
        if not self.built:
            self._build_from_data_shape(inputs.shape)
        return super().call(inputs, training=training)

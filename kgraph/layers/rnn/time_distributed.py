"""TimeDistributed: applies a layer to every time step of a sequence (axis 1), with shared weights."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.layer import Layer


class TimeDistributed(Layer):
    """Keras's TimeDistributed: `layer` on each slice `inputs[:, t]`.

    Layers that act on the last axis only (Dense, Activation, Dropout) take the whole (batch, time, ...)
    tensor at once, which is the same computation as one GEMM over batch x time. Any other layer is called
    on each step's slice, and the results are stacked.

    Example:
        >>> TimeDistributed(Dense(4))(np.ones((2, 5, 3), "float32")).shape
        (2, 5, 4)
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(
                "Please initialize `TimeDistributed` layer with a `keras.layers.Layer` instance. "
                f"Received: {layer}"
            )
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True
        self._step_shape = None  # the shape the layer was built for: one time step

    def _whole(self) -> bool:
        from kgraph.layers.core.activation import Activation
        from kgraph.layers.core.dense import Dense
        from kgraph.layers.core.dropout import Dropout

        return isinstance(self.layer, Dense | Activation | Dropout)

    def build(self, input_shape) -> None:
        if len(input_shape) < 3:
            raise ValueError(
                f"`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, "
                f"received: {tuple(input_shape)}"
            )
        self._step_shape = (input_shape[0], *input_shape[2:])
        self.layer._ensure_built(self._step_shape)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        kwargs = {"training": training} if self.layer._accepts_training() else {}
        if self._whole():
            return self.layer(inputs, **kwargs)
        steps = [self.layer(inputs[:, t], **kwargs) for t in range(inputs.shape[1])]
        return ops.stack(steps, axis=1)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape((input_shape[0], *input_shape[2:]))
        return (inner[0], input_shape[1], *inner[1:])

    def get_config(self) -> dict:
        from kgraph.saving.serialization import serialize_nested_layer

        return {**super().get_config(), "layer": serialize_nested_layer(self.layer, self._step_shape)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from kgraph.saving.serialization import deserialize_keras_object

        config = dict(config)
        config["layer"] = deserialize_keras_object(config["layer"], custom_objects)
        return cls(**config)

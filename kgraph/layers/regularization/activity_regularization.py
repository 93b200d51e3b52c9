"""ActivityRegularization: passes its inputs on and adds an L1/L2 penalty on them to the loss."""

from __future__ import annotations

from kgraph import regularizers
from kgraph.layers.layer import Layer


class ActivityRegularization(Layer):
    """The identity; adds `l1 * sum(|x|) + l2 * sum(x**2)` over the batch, divided by its size, to the loss.

    Args:
        l1: the L1 factor.
        l2: the L2 factor.
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.supports_masking = True
        self.l1, self.l2 = l1, l2

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}

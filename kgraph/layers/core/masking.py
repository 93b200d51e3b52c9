"""Masking: marks the time steps whose features all equal `mask_value`, and zeroes them."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.layer import Layer


class Masking(Layer):
    """Keras's Masking: a step is masked (skipped by recurrent layers) when every feature equals `mask_value`.

    Example:
        >>> Masking(0.0)(np.zeros((1, 2, 3), "float32")).shape
        (1, 2, 3)
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True

    def compute_mask(self, inputs, previous_mask=None):
        return ops.max(ops.not_equal(inputs, float(self.mask_value)), axis=-1)

    def call(self, inputs):
        keep = ops.max(ops.not_equal(inputs, float(self.mask_value)), axis=-1, keepdims=True)
        return ops.multiply(inputs, keep)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}

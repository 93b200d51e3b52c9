"""Dropout: zeroes a fraction `rate` of the inputs during training and scales the rest by 1 / (1 - rate)."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.layer import Layer


class Dropout(Layer):
    """Keras's Dropout. The mask is drawn inside the compiled step, anew at every step."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # a mask passes through, as in Keras
        if not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value between 0 and "
                f"1. Received: rate={rate}"
            )
        if noise_shape is not None:
            raise ValueError(f"Dropout '{self.name}': noise_shape is not supported yet.")
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if self.rate == 1:
            return ops.multiply(inputs, 0.0)
        keep = ops.greater_equal(ops.random_uniform(ops.shape(inputs)), self.rate)
        return ops.where(keep, ops.divide(inputs, 1.0 - self.rate), 0.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}

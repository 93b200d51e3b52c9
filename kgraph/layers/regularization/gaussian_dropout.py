"""GaussianDropout: multiplies the inputs by 1-centred normal noise in training."""

from __future__ import annotations

import math

from kgraph import ops
from kgraph.layers.layer import Layer


class GaussianDropout(Layer):
    """Keras's GaussianDropout: `inputs * normal(1, sqrt(rate / (1 - rate)))` in training.

    Args:
        rate: the drop probability of the equivalent Dropout, in [0, 1].
        seed: accepted for Keras compatibility (the draws come from the program's generator).
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a float value between 0 and 1. "
                f"Received: rate={rate} (layer '{self.name}')"
            )
        self.rate, self.seed = rate, seed
        self.supports_masking = True

    def call(self, inputs, training=None):
        if training and self.rate > 0:
            stddev = math.sqrt(self.rate / (1.0 - self.rate))
            return ops.multiply(inputs, ops.random_normal(ops.shape(inputs), mean=1.0, stddev=stddev))
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}

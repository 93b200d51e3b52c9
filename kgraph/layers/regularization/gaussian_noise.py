"""GaussianNoise: adds zero-centred normal noise of standard deviation `stddev` in training."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.layer import Layer


class GaussianNoise(Layer):
    """Keras's GaussianNoise: `inputs + normal(0, stddev)` in training, the inputs unchanged otherwise.

    Args:
        stddev: the noise's standard deviation, in [0, 1].
        seed: accepted for Keras compatibility (the draws come from the program's generator).
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= stddev <= 1:
            raise ValueError(
                "Invalid value received for argument `stddev`. Expected a float value between 0 and 1. "
                f"Received: stddev={stddev} (layer '{self.name}')"
            )
        self.stddev, self.seed = stddev, seed
        self.supports_masking = True

    def call(self, inputs, training=None):
        if training and self.stddev > 0:
            return ops.add(inputs, ops.random_normal(ops.shape(inputs), stddev=self.stddev))
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}

"""SpatialDropout1D/2D/3D: dropout that drops whole feature maps (one draw per sample and channel)."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.core.dropout import Dropout
from kgraph.layers.input_spec import InputSpec
from kgraph.utils.argument_validation import standardize_data_format


class BaseSpatialDropout(Dropout):
    """Dropout whose mask is constant over the spatial axes: `_noise_shape` says which axes get one draw."""

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _noise_shape(self, shape) -> tuple:
        return (shape[0], *([1] * self.rank), shape[-1])

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if self.rate == 1:
            return ops.multiply(inputs, 0.0)
        keep = ops.greater_equal(ops.random_uniform(self._noise_shape(ops.shape(inputs))), self.rate)
        scale = ops.divide(keep, 1.0 - self.rate)
        return ops.multiply(inputs, scale)

    def get_config(self) -> dict:
        # Keras's spatial dropouts take no `trainable` argument, so their configs carry none.
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": "float32"}


class SpatialDropout1D(BaseSpatialDropout):
    """Keras's SpatialDropout1D: on `(batch, steps, channels)`, drops whole channels of a sample.

    Args:
        rate: the fraction of channels to drop, in [0, 1].
        seed: accepted for Keras compatibility (the draws come from the program's generator).
    """

    rank = 1


class _ImageSpatialDropout(BaseSpatialDropout):
    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = standardize_data_format(data_format)

    def _noise_shape(self, shape) -> tuple:
        if self.data_format == "channels_first":
            return (shape[0], shape[1], *([1] * self.rank))
        return super()._noise_shape(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout2D(_ImageSpatialDropout):
    """Keras's SpatialDropout2D: on 4D images, drops whole feature maps (`data_format` says where channels
    are)."""

    rank = 2


class SpatialDropout3D(_ImageSpatialDropout):
    """Keras's SpatialDropout3D: on 5D volumes, drops whole feature maps."""

    rank = 3

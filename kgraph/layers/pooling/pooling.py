"""MaxPooling1D/2D and AveragePooling1D/2D: one opaque window kernel each way (forward and gradient)."""

from __future__ import annotations

from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.ops.nn import (
    channels_first_shape,
    channels_last_shape,
    from_channels_last,
    pool_channels_last,
    standardize_padding,
    to_channels_last,
    windowed_shape,
)
from kgraph.utils.argument_validation import standardize_data_format, standardize_tuple


class Pooling(Layer):
    """Max or average pooling over windows of `pool_size`, every `strides` (default: the pool size).

    Args:
        pool_size: an int or a tuple of one int per spatial axis.
        strides: likewise, or None for `pool_size`.
        pool_dimensions: the number of spatial axes (1 or 2).
        pool_mode: 'max' or 'average'.
        padding: 'valid' or 'same' ('same' windows average their real entries only, as in Keras).
        data_format: 'channels_last' (default) or 'channels_first'.
    """

    def __init__(
        self,
        pool_size,
        strides,
        pool_dimensions,
        pool_mode="max",
        padding="valid",
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        try:
            self.pool_size = standardize_tuple(pool_size, pool_dimensions, "pool_size")
            strides = pool_size if strides is None else strides
            self.strides = standardize_tuple(strides, pool_dimensions, "strides")
            standardize_padding(padding)
            self.data_format = standardize_data_format(data_format)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__} '{self.name}': {err}") from None
        self.pool_mode = pool_mode
        self.padding = padding
        self.input_spec = InputSpec(ndim=pool_dimensions + 2)
        self.built = True

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        y = pool_channels_last(
            x, self.pool_mode, self.pool_size, self.strides, standardize_padding(self.padding)
        )
        return from_channels_last(y, self.data_format)

    def compute_output_shape(self, input_shape):
        last = channels_last_shape(input_shape, self.data_format)
        shape = windowed_shape(
            last,
            self.pool_size,
            self.strides,
            (1,) * len(self.pool_size),
            standardize_padding(self.padding),
            last[-1],
            f"{type(self).__name__} '{self.name}'",
        )
        return channels_first_shape(shape, self.data_format)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class MaxPooling1D(Pooling):
    """Max pooling over (batch, steps, channels) inputs."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, 1, "max", padding, data_format, name=name, **kwargs)


class MaxPooling2D(Pooling):
    """Max pooling over (batch, height, width, channels) inputs.

    Example:
        >>> MaxPooling2D()(np.ones((2, 26, 26, 8), "float32")).shape
        (2, 13, 13, 8)
    """

    def __init__(
        self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs
    ):
        super().__init__(pool_size, strides, 2, "max", padding, data_format, name=name, **kwargs)


class AveragePooling1D(Pooling):
    """Average pooling over (batch, steps, channels) inputs."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None, **kwargs):
        super().__init__(pool_size, strides, 1, "average", padding, data_format, name=name, **kwargs)


class AveragePooling2D(Pooling):
    """Average pooling over (batch, height, width, channels) inputs."""

    def __init__(
        self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, name=None, **kwargs
    ):
        super().__init__(pool_size, strides, 2, "average", padding, data_format, name=name, **kwargs)

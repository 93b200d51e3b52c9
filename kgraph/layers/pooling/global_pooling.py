"""GlobalMaxPooling1D/2D and GlobalAveragePooling1D/2D: a max or mean over every spatial axis."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.utils.argument_validation import standardize_data_format


class GlobalPooling(Layer):
    """Reduces the spatial axes of (batch, *spatial, channels) inputs (or (batch, channels, *spatial)).

    Args:
        pool_dimensions: the number of spatial axes (1 or 2).
        data_format: 'channels_last' (default) or 'channels_first'.
        keepdims: keep the spatial axes with size 1.
    """

    def __init__(self, pool_dimensions: int, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        try:
            self.data_format = standardize_data_format(data_format)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__} '{self.name}': {err}") from None
        self.keepdims = keepdims
        self.input_spec = InputSpec(ndim=pool_dimensions + 2)
        self.built = True

    def spatial_axes(self, rank: int) -> tuple[int, ...]:
        return tuple(range(1, rank - 1)) if self.data_format == "channels_last" else tuple(range(2, rank))

    def reduce(self, inputs, axes):
        raise NotImplementedError

    def call(self, inputs):
        return self.reduce(inputs, self.spatial_axes(ops.ndim(inputs)))

    def compute_output_shape(self, input_shape):
        axes = self.spatial_axes(len(input_shape))
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class _GlobalAverage(GlobalPooling):
    def reduce(self, inputs, axes):
        return ops.mean(inputs, axis=axes, keepdims=self.keepdims)


class _GlobalMax(GlobalPooling):
    def reduce(self, inputs, axes):
        return ops.max(inputs, axis=axes, keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalAverage):
    """The mean over the steps of (batch, steps, channels) inputs; with a mask (batch, steps), the mean over
    the steps it keeps, as in Keras."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(1, data_format, keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        channels_last = self.data_format == "channels_last"
        steps = 1 if channels_last else 2
        kept = ops.expand_dims(ops.greater(mask, 0.5), 2 if channels_last else 1)
        total = ops.sum(ops.where(kept, inputs, 0.0), axis=steps, keepdims=self.keepdims)
        return ops.divide(total, ops.sum(kept, axis=steps, keepdims=self.keepdims))

    def compute_mask(self, inputs, previous_mask=None):
        return None


class GlobalAveragePooling2D(_GlobalAverage):
    """The mean over height and width.

    Example:
        >>> GlobalAveragePooling2D()(np.ones((2, 5, 5, 8), "float32")).shape
        (2, 8)
    """

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(2, data_format, keepdims, **kwargs)


class GlobalMaxPooling1D(_GlobalMax):
    """The maximum over the steps of (batch, steps, channels) inputs."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(1, data_format, keepdims, **kwargs)


class GlobalMaxPooling2D(_GlobalMax):
    """The maximum over height and width."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(2, data_format, keepdims, **kwargs)

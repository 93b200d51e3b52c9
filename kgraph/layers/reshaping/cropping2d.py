"""Cropping2D: removes rows and columns at the borders of images."""

from __future__ import annotations

from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.layers.reshaping.zero_padding2d import standardize_pairs
from kgraph.utils.argument_validation import standardize_data_format


class Cropping2D(Layer):
    """Keras's Cropping2D.

    Args:
        cropping: an int, `(symmetric_height_crop, symmetric_width_crop)` or `((top, bottom), (left, right))`.
        data_format: `"channels_last"` (`(batch, rows, cols, channels)`, the default) or `"channels_first"`.

    Example:
        >>> Cropping2D(((1, 0), (0, 2)))(np.ones((1, 4, 4, 3), "float32")).shape
        (1, 3, 2, 3)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        if isinstance(cropping, int) and cropping < 0:
            raise ValueError(
                f"`cropping` cannot be negative. Received: cropping={cropping} (layer '{self.name}')."
            )
        self.cropping = standardize_pairs(cropping, "cropping", self.name)
        self.input_spec = InputSpec(ndim=4)

    def _first_spatial_axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def call(self, inputs):
        self.compute_output_shape(inputs.shape)
        first, index = self._first_spatial_axis(), [slice(None)] * 4
        for i, (start, end) in enumerate(self.cropping):
            index[first + i] = slice(start, inputs.shape[first + i] - end)
        return inputs[tuple(index)]

    def compute_output_shape(self, input_shape):
        shape, first = list(input_shape), self._first_spatial_axis()
        for i, pair in enumerate(self.cropping):
            size = shape[first + i]
            if size is not None and sum(pair) >= size:
                raise ValueError(
                    "Values in `cropping` argument should be smaller than the corresponding spatial "
                    f"dimension of the input. Received: input_shape={tuple(input_shape)}, "
                    f"cropping={self.cropping} (layer '{self.name}')"
                )
            shape[first + i] = None if size is None else size - sum(pair)
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}

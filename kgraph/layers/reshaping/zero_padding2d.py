"""ZeroPadding2D: zero rows and columns around images."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.utils.argument_validation import standardize_data_format, standardize_tuple


def standardize_pairs(value, name: str, layer: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """An int, `(symmetric_height, symmetric_width)` or `((top, bottom), (left, right))` as the last form."""
    if isinstance(value, int):
        return ((value, value), (value, value))
    if not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(
            f"`{name}` of layer '{layer}' should be either an int, a tuple of 2 ints "
            f"(symmetric_height_{name}, symmetric_width_{name}), or a tuple of 2 tuples of 2 ints "
            f"((top_{name}, bottom_{name}), (left_{name}, right_{name})). Received: {name}={value}."
        )
    return (
        standardize_tuple(value[0], 2, f"1st entry of {name}", allow_zero=True),
        standardize_tuple(value[1], 2, f"2nd entry of {name}", allow_zero=True),
    )


class ZeroPadding2D(Layer):
    """Keras's ZeroPadding2D.

    Args:
        padding: an int, `(symmetric_height_pad, symmetric_width_pad)` or `((top, bottom), (left, right))`.
        data_format: `"channels_last"` (`(batch, rows, cols, channels)`, the default) or `"channels_first"`.

    Example:
        >>> ZeroPadding2D(1)(np.ones((1, 2, 2, 3), "float32")).shape
        (1, 4, 4, 3)
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.padding = standardize_pairs(padding, "padding", self.name)
        self.input_spec = InputSpec(ndim=4)

    def _first_spatial_axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def call(self, inputs):
        widths = [(0, 0)] * 4
        first = self._first_spatial_axis()
        widths[first : first + 2] = self.padding
        return ops.pad(inputs, widths)

    def compute_output_shape(self, input_shape):
        shape, first = list(input_shape), self._first_spatial_axis()
        for i, pair in enumerate(self.padding):
            if shape[first + i] is not None:
                shape[first + i] += sum(pair)
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}

"""ZeroPadding1D: zeros before and after the steps of a sequence."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.utils.argument_validation import standardize_data_format, standardize_tuple


class ZeroPadding1D(Layer):
    """Keras's ZeroPadding1D.

    Args:
        padding: an int (the same before and after) or `(before, after)`.
        data_format: `"channels_last"` (`(batch, steps, features)`, the default) or `"channels_first"`.

    Example:
        >>> ZeroPadding1D(1)(np.ones((1, 2, 1), "float32"))[0, :, 0]
        array([0., 1., 1., 0.], dtype=float32)
    """

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.padding = standardize_tuple(padding, 2, "padding", allow_zero=True)
        self.input_spec = InputSpec(ndim=3)

    def _axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def call(self, inputs):
        widths = [(0, 0)] * 3
        widths[self._axis()] = self.padding
        return ops.pad(inputs, widths)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if shape[self._axis()] is not None:
            shape[self._axis()] += sum(self.padding)
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}

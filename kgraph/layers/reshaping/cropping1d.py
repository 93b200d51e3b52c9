"""Cropping1D: removes steps at the start and end of a sequence."""

from __future__ import annotations

from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.utils.argument_validation import standardize_tuple


class Cropping1D(Layer):
    """Keras's Cropping1D on `(batch, steps, features)`.

    Args:
        cropping: an int (the same at both ends) or `(start, end)`: the steps removed.

    Example:
        >>> Cropping1D((1, 2))(np.ones((1, 5, 3), "float32")).shape
        (1, 2, 3)
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = standardize_tuple(cropping, 2, "cropping", allow_zero=True)
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        self.compute_output_shape(inputs.shape)
        start, end = self.cropping
        return inputs[:, start : inputs.shape[1] - end, :]

    def compute_output_shape(self, input_shape):
        if input_shape[1] is None:
            return (input_shape[0], None, input_shape[2])
        length = input_shape[1] - sum(self.cropping)
        if length <= 0:
            raise ValueError(
                f"`cropping` parameter of `Cropping1D` layer '{self.name}' must be smaller than the input "
                f"length. Received: input_shape={tuple(input_shape)}, cropping={self.cropping}"
            )
        return (input_shape[0], length, input_shape[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping}

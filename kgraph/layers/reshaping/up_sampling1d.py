"""UpSampling1D: repeats each step of a sequence `size` times."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer


class UpSampling1D(Layer):
    """Keras's UpSampling1D on `(batch, steps, features)`.

    Args:
        size: how many times each step is repeated.

    Example:
        >>> UpSampling1D(2)(np.arange(2, dtype="float32").reshape(1, 2, 1))[0, :, 0]
        array([0., 0., 1., 1.], dtype=float32)
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)} (layer '{self.name}').")
        if size <= 0:
            raise ValueError(
                f"Argument `size` should be a positive integer. Received: size={size} (layer '{self.name}')"
            )
        self.size = size
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return ops.repeat(inputs, self.size, axis=1)

    def compute_output_shape(self, input_shape):
        steps = None if input_shape[1] is None else input_shape[1] * self.size
        return (input_shape[0], steps, input_shape[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}

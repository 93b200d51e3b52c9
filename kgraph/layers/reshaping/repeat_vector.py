"""RepeatVector: repeats a vector `n` times into a sequence."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer


class RepeatVector(Layer):
    """Keras's RepeatVector: `(batch, features)` to `(batch, n, features)`.

    Args:
        n: the number of repetitions.

    Example:
        >>> RepeatVector(3)(np.ones((2, 4), "float32")).shape
        (2, 3, 4)
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)} (layer '{self.name}').")
        if n <= 0:
            raise ValueError(
                f"Argument `n` should be a positive integer. Received: n={n} (layer '{self.name}')"
            )
        self.n = n
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        batch, features = ops.shape(inputs)
        return ops.broadcast_to(ops.expand_dims(inputs, 1), (batch, self.n, features))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}

"""UnitNormalization: each sample scaled to unit L2 norm along `axis`."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.layer import Layer
from kgraph.layers.normalization.layer_normalization import standardize_axis

# Keras caps 1 / norm at 1 / 1e-12, which floors the sum of squares at 1e-24.
_MIN_SQUARE_SUM = 1e-24


class UnitNormalization(Layer):
    """`x / ||x||` along `axis` (an int or a list of ints).

    Example:

    >>> UnitNormalization()(np.array([[3.0, 4.0]]))  # [[0.6, 0.8]]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = standardize_axis(axis, self.name)
        self.supports_masking = True

    def call(self, inputs):
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        return ops.l2_normalize(inputs, axis=axis, epsilon=_MIN_SQUARE_SUM)

    def compute_output_shape(self, input_shape):
        rank = len(input_shape)
        for a in self.axis if isinstance(self.axis, list) else [self.axis]:
            if not -rank <= a < rank:
                raise ValueError(f"Axis {self.axis} is out of bounds for input shape {tuple(input_shape)}.")
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}

"""UpSampling2D: enlarges images by integer factors, repeating pixels (nearest) or interpolating (bilinear).

Bilinear upsampling is linear along each spatial axis, so it is a product with a fixed (size x input)
interpolation matrix per axis: half-pixel centres, edge pixels repeated, as JAX's `image.resize` computes it.
"""

from __future__ import annotations

import numpy as np

from kgraph import ops
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.utils.argument_validation import standardize_data_format, standardize_tuple

_INTERPOLATIONS = ("nearest", "bilinear")


def bilinear_matrix(length: int, factor: int) -> np.ndarray:
    """The `(length, length * factor)` matrix whose product with a row interpolates it bilinearly."""
    centres = (np.arange(length * factor) + 0.5) / factor - 0.5
    below = np.floor(centres)
    frac = (centres - below).astype(np.float32)
    matrix = np.zeros((length, length * factor), np.float32)
    columns = np.arange(length * factor)
    np.add.at(matrix, (np.clip(below, 0, length - 1).astype(int), columns), 1.0 - frac)
    np.add.at(matrix, (np.clip(below + 1, 0, length - 1).astype(int), columns), frac)
    return matrix


class UpSampling2D(Layer):
    """Keras's UpSampling2D.

    Args:
        size: an int or `(rows, cols)`: the upsampling factors.
        data_format: `"channels_last"` (`(batch, rows, cols, channels)`, the default) or `"channels_first"`.
        interpolation: `"nearest"` or `"bilinear"`.

    Example:
        >>> UpSampling2D((2, 3))(np.ones((1, 2, 2, 4), "float32")).shape
        (1, 4, 6, 4)
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.size = standardize_tuple(size, 2, "size")
        self.interpolation = interpolation.lower()
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"UpSampling2D '{self.name}': `interpolation` must be one of {_INTERPOLATIONS} in kgraph. "
                f"Received: interpolation={interpolation}"
            )
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        x = ops.transpose(inputs, (0, 2, 3, 1)) if self.data_format == "channels_first" else inputs
        if self.interpolation == "nearest":
            # Both axes in one broadcast, (n, h, 1, w, 1, c) to (n, h, sh, w, sw, c): one kernel, and one
            # reduction for the gradient.
            n, h, w, c = ops.shape(x)
            (sh, sw) = self.size
            tiled = ops.broadcast_to(ops.reshape(x, (n, h, 1, w, 1, c)), (n, h, sh, w, sw, c))
            x = ops.reshape(tiled, (n, h * sh, w * sw, c))
        else:
            for axis, factor in zip((1, 2), self.size, strict=True):
                # Move `axis` last, interpolate it with one matrix product, move it back.
                perm = tuple(a for a in range(4) if a != axis) + (axis,)
                moved = ops.matmul(ops.transpose(x, perm), bilinear_matrix(ops.shape(x)[axis], factor))
                x = ops.transpose(moved, tuple(np.argsort(perm).tolist()))
        return ops.transpose(x, (0, 3, 1, 2)) if self.data_format == "channels_first" else x

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        first = 2 if self.data_format == "channels_first" else 1
        for i, factor in enumerate(self.size):
            shape[first + i] = None if shape[first + i] is None else shape[first + i] * factor
        return tuple(shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "size": self.size,
            "data_format": self.data_format,
            "interpolation": self.interpolation,
        }

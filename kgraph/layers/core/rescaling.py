"""Rescaling (`inputs * scale + offset`, as image models use to bring pixels into [0, 1]) and Identity."""

from __future__ import annotations

import numpy as np

from kgraph import ops
from kgraph.layers.layer import Layer


class Rescaling(Layer):
    """`inputs * scale + offset`; a list or array `scale`/`offset` applies per channel (the last axis).

    Example:

    >>> rescale = Rescaling(1.0 / 255)  # pixels in [0, 255] to [0, 1]
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset
        self.supports_masking = True
        # Numbers stay numbers (constants folded into the kernel); arrays are made once, so that a gradient
        # tape sees the same array (the same feed) at every step.
        self._factors = [float(v) if np.ndim(v) == 0 else np.asarray(v, np.float32) for v in (scale, offset)]

    def call(self, inputs):
        scale, offset = self._factors
        return ops.add(ops.multiply(inputs, scale), offset)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        def plain(value):  # arrays as lists, so the config stays JSON
            return np.asarray(value).tolist() if isinstance(value, np.ndarray) else value

        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


class Identity(Layer):
    """Returns its inputs: a placeholder where no operation is to be performed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

"""Reshape: gives the non-batch axes a new shape (one of them may be -1)."""

from __future__ import annotations

import math

from kgraph import ops
from kgraph.layers.layer import Layer


class Reshape(Layer):
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def _resolved(self, input_shape) -> tuple:
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if known == 0 or size % known:
                raise ValueError(
                    f"Layer '{self.name}': the total size of the target shape {self.target_shape} "
                    f"does not divide the input size {size} (input shape {input_shape})."
                )
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ValueError(
                f"Layer '{self.name}': total size of new array must be unchanged, input_shape = "
                f"{list(input_shape[1:])}, output_shape = {list(self.target_shape)}"
            )
        return self.target_shape

    def call(self, inputs):
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (shape[0] if shape[0] is not None else -1, *self._resolved(shape)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._resolved(input_shape))

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}

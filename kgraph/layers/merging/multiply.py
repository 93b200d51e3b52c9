"""Multiply: the elementwise product of its inputs."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.merging.merge import Merge


class Multiply(Merge):
    """Keras's Multiply: `inputs[0] * inputs[1] * ...`."""

    def _merge_function(self, inputs):
        product = inputs[0]
        for x in inputs[1:]:
            product = ops.multiply(product, x)
        return product


def multiply(inputs, **kwargs):
    """Functional form of `Multiply`."""
    return Multiply(**kwargs)(inputs)

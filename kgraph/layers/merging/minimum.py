"""Minimum: the elementwise minimum of its inputs."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.merging.merge import Merge


class Minimum(Merge):
    """Keras's Minimum (on a tie the gradient goes to the earlier input; JAX splits it)."""

    def _merge_function(self, inputs):
        result = inputs[0]
        for x in inputs[1:]:
            result = ops.minimum(result, x)
        return result


def minimum(inputs, **kwargs):
    """Functional form of `Minimum`."""
    return Minimum(**kwargs)(inputs)

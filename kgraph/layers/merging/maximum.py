"""Maximum: the elementwise maximum of its inputs."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.merging.merge import Merge


class Maximum(Merge):
    """Keras's Maximum (on a tie the gradient goes to the earlier input; JAX splits it)."""

    def _merge_function(self, inputs):
        result = inputs[0]
        for x in inputs[1:]:
            result = ops.maximum(result, x)
        return result


def maximum(inputs, **kwargs):
    """Functional form of `Maximum`."""
    return Maximum(**kwargs)(inputs)

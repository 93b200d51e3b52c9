"""Average: the elementwise mean of its inputs."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.merging.merge import Merge


class Average(Merge):
    """Keras's Average: the sum of the inputs divided by their count."""

    def _merge_function(self, inputs):
        total = inputs[0]
        for x in inputs[1:]:
            total = ops.add(total, x)
        return ops.divide(total, float(len(inputs)))


def average(inputs, **kwargs):
    """Functional form of `Average`."""
    return Average(**kwargs)(inputs)

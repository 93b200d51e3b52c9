"""Subtract: the difference of exactly two inputs."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.merging.merge import Merge


class Subtract(Merge):
    """Keras's Subtract: `inputs[0] - inputs[1]`.

    Example:
        >>> Subtract()([np.ones((2, 3), "float32"), np.ones((2, 3), "float32")]).sum()
        0.0
    """

    def _check(self, inputs) -> None:
        if not isinstance(inputs, list | tuple) or len(inputs) != 2:
            raise ValueError(
                f"A `Subtract` layer ('{self.name}') should be called on exactly 2 inputs. Received: "
                f"inputs={inputs}"
            )

    def _merge_function(self, inputs):
        return ops.subtract(inputs[0], inputs[1])


def subtract(inputs, **kwargs):
    """Functional form of `Subtract`."""
    return Subtract(**kwargs)(inputs)

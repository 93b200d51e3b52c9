"""Merge layers: Add and Concatenate, with the functional forms `add` and `concatenate`."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.layer import Layer


class Merge(Layer):
    """Base of layers that combine a list of at least two tensors."""

    def _check(self, inputs) -> None:
        if not isinstance(inputs, list | tuple) or len(inputs) < 2:
            raise ValueError(
                f"A merge layer ('{self.name}') should be called on a list of at least 2 inputs. "
                f"Received: inputs={inputs}"
            )

    def __call__(self, inputs, **kwargs):
        self._check(inputs)
        return super().__call__(list(inputs), **kwargs)


class Add(Merge):
    """Elementwise sum of its inputs."""

    def call(self, inputs):
        total = inputs[0]
        for x in inputs[1:]:
            total = ops.add(total, x)
        return total


class Concatenate(Merge):
    """Concatenation along `axis` (default the last)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return ops.concatenate(inputs, axis=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)

"""The Merge base (Keras's broadcasting rule for elementwise merges), Add and Concatenate, with the functional
forms `add` and `concatenate`. The other merge layers have a file each."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.layer import Layer


def broadcast_merged_shape(shape1, shape2, layer: str):
    """Keras's elementwise merge shape of two non-batch shapes, aligned on the right (None is unknown)."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return tuple(shape1)
    merged = list(shape1[: -len(shape2)])
    for i, j in zip(shape1[-len(shape2) :], shape2, strict=True):
        if i is None or j is None:
            merged.append(None)
        elif i == 1 or j == 1:
            merged.append(j if i == 1 else i)
        elif i != j:
            raise ValueError(
                f"Inputs have incompatible shapes. Received shapes {tuple(shape1)} and {tuple(shape2)} "
                f"(layer '{layer}')"
            )
        else:
            merged.append(i)
    return tuple(merged)


class Merge(Layer):
    """Base of layers that combine a list of at least two tensors elementwise.

    Inputs of lower rank get unit axes after the batch axis, then the inputs broadcast as numpy arrays do;
    subclasses define `_merge_function` on the aligned inputs.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def _check(self, inputs) -> None:
        if not isinstance(inputs, list | tuple) or len(inputs) < 2:
            raise ValueError(
                f"A merge layer ('{self.name}') should be called on a list of at least 2 inputs. "
                f"Received: inputs={inputs}"
            )

    def __call__(self, inputs, **kwargs):
        self._check(inputs)
        return super().__call__(list(inputs), **kwargs)

    def _merge_function(self, inputs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not implement `_merge_function()`.")

    def call(self, inputs):
        rank = max(ops.ndim(x) for x in inputs)
        aligned = []
        for x in inputs:
            while ops.ndim(x) < rank:
                x = ops.expand_dims(x, 1)
            aligned.append(x)
        return self._merge_function(aligned)

    def compute_mask(self, inputs, previous_mask=None):
        """Keras's rule: a step is kept when any input keeps it (no mask when an input has none)."""
        masks = previous_mask if isinstance(previous_mask, list | tuple) else [previous_mask]
        if any(m is None for m in masks):
            return None
        combined = masks[0]
        for m in masks[1:]:
            combined = ops.maximum(combined, m)
        return combined

    def compute_output_shape(self, input_shape):
        merged = tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            merged = broadcast_merged_shape(merged, tuple(shape[1:]), self.name)
        batch = {s[0] for s in input_shape} - {None}
        if len(batch) > 1:
            raise ValueError(
                f"Cannot merge tensors with different batch sizes. Received tensors with shapes "
                f"{list(input_shape)} (layer '{self.name}')"
            )
        return (batch.pop() if batch else None, *merged)


class Add(Merge):
    """Elementwise sum of its inputs."""

    def _merge_function(self, inputs):
        total = inputs[0]
        for x in inputs[1:]:
            total = ops.add(total, x)
        return total


class Concatenate(Merge):
    """Concatenation along `axis` (default the last; any axis but the batch's)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return ops.concatenate(inputs, axis=self.axis)

    def compute_mask(self, inputs, previous_mask=None):
        """Masks of (batch, steps) inputs, concatenated as the inputs are; an input without one keeps all."""
        masks = previous_mask if isinstance(previous_mask, list | tuple) else [previous_mask]
        if all(m is None for m in masks):
            return None
        full = [
            ops.ones_like(x) if m is None else ops.broadcast_to(ops.expand_dims(m, -1), ops.shape(x))
            for x, m in zip(inputs, masks, strict=True)
        ]
        return ops.max(ops.concatenate(full, axis=self.axis), axis=-1)

    def compute_output_shape(self, input_shape):
        shapes = [list(s) for s in input_shape]
        rank = len(shapes[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        mismatch = axis in (None, 0) or any(len(s) != rank for s in shapes)
        if not mismatch:
            for i in range(rank):
                sizes = {s[i] for s in shapes} - {None}
                mismatch |= i != axis and len(sizes) > 1
        if mismatch:
            raise ValueError(
                "A `Concatenate` layer requires inputs with matching shapes except for the concatenation "
                f"axis. Received: input_shape={[tuple(s) for s in shapes]}, axis={self.axis} "
                f"(layer '{self.name}')"
            )
        out = list(shapes[0])
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def add(inputs, **kwargs):
    """Functional form of `Add`: `add([a, b])`."""
    return Add(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of `Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)

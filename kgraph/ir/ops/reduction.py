"""Reductions over a tuple of (normalized, sorted) axes: sum, max, min, and argmax/argmin over one axis.

argmax/argmin return float32 indices: every value in the arena is float32 (indices are exact below 2**24).
"""

from __future__ import annotations

import numpy as np

from kgraph.ir.builder import emit
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _infer(types, attrs, origin):
    (t,) = types
    axes = attrs["axes"]
    if tuple(sorted(set(axes))) != tuple(axes) or any(not 0 <= a < t.rank for a in axes):
        raise infer_error(origin, f"reduction axes {axes} are invalid for an input of rank {t.rank}.")
    return TensorType(reduced_shape(t.shape, axes, attrs.get("keepdims", False)), t.dtype)


def _expand(value, x_shape, axes):
    """`value` reduced over `axes` (with or without keepdims) broadcast back to `x_shape`."""
    kept = reduced_shape(x_shape, axes, True)
    if tuple(value.shape) != kept:
        value = emit("reshape", value, shape=kept)
    return emit("broadcast_to", value, shape=tuple(x_shape))


def _g_sum(x, y, g, at):
    return [_expand(g, x[0].shape, at["axes"])]


def _g_extremum(x, y, g, at):
    # Ties share the gradient equally, as JAX does.
    mask = emit("equal", x[0], _expand(y, x[0].shape, at["axes"]))
    count = emit("sum", mask, axes=at["axes"], keepdims=True)
    return [_expand(g, x[0].shape, at["axes"]) * mask / count]


def _reference(fn):
    return lambda xs, at, ctx: np.asarray(fn(xs[0], axis=at["axes"], keepdims=at.get("keepdims", False)))


def _arg_infer(types, attrs, origin):
    t = _infer(types, attrs, origin)
    if len(attrs["axes"]) != 1:
        raise infer_error(origin, "argmax/argmin reduce exactly one axis.")
    return TensorType(t.shape, "float32")


def _arg_reference(fn):
    def ref(xs, at, ctx):
        (axis,) = at["axes"]
        out = fn(xs[0], axis=axis)
        return np.asarray(np.expand_dims(out, axis) if at.get("keepdims") else out, dtype=np.float32)

    return ref


register(OpDef("sum", "reduction", _infer, _reference(np.sum), _g_sum))
register(OpDef("max", "reduction", _infer, _reference(np.max), _g_extremum))
register(OpDef("min", "reduction", _infer, _reference(np.min), _g_extremum))
register(OpDef("argmax", "reduction", _arg_infer, _arg_reference(np.argmax)))
register(OpDef("argmin", "reduction", _arg_infer, _arg_reference(np.argmin)))

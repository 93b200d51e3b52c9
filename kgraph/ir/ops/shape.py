"""Ops that move data without arithmetic: reshape, transpose, concat, slice, and broadcast_to.

reshape is free (the memory plan gives it the same storage); broadcast_to is elementwise so that fused loops
read the smaller value with broadcast indexing instead of materializing it.
"""

from __future__ import annotations

import numpy as np

from kgraph.ir.builder import emit
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, broadcast_shapes, format_shape


def _static_size(shape):
    return int(np.prod([d for d in shape if d is not None], dtype=np.int64))


def _reshape_infer(types, attrs, origin):
    (t,) = types
    target = tuple(attrs["shape"])
    if (None in t.shape) != (None in target) or _static_size(t.shape) != _static_size(target):
        raise infer_error(
            origin, f"cannot reshape a value of shape {format_shape(t.shape)} into {format_shape(target)}."
        )
    return TensorType(target, t.dtype)


def _reshape_reference(xs, at, ctx):
    return xs[0].reshape(tuple(-1 if d is None else d for d in at["shape"]))


def _transpose_infer(types, attrs, origin):
    (t,) = types
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(t.rank)):
        raise infer_error(origin, f"transpose permutation {perm} is invalid for rank {t.rank}.")
    return TensorType(tuple(t.shape[p] for p in perm), t.dtype)


def _concat_infer(types, attrs, origin):
    axis = attrs["axis"]
    first = types[0].shape
    for t in types[1:]:
        mismatched = t.rank != len(first) or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, first, strict=True)) if i != axis
        )
        if mismatched:
            shapes = ", ".join(format_shape(t.shape) for t in types)
            raise infer_error(
                origin, f"concatenation along axis {axis} needs matching shapes elsewhere; received {shapes}."
            )
    size = sum(t.shape[axis] for t in types)
    return TensorType(first[:axis] + (size,) + first[axis + 1 :], types[0].dtype)


def _concat_grad(x, y, g, at):
    axis, start, grads = at["axis"], 0, []
    for part in x:
        stop = start + part.shape[axis]
        grads.append(emit("slice", g, axis=axis, start=start, stop=stop))
        start = stop
    return grads


def _slice_infer(types, attrs, origin):
    (t,) = types
    axis, start, stop = attrs["axis"], attrs["start"], attrs["stop"]
    if t.shape[axis] is None or not 0 <= start < stop <= t.shape[axis]:
        raise infer_error(
            origin, f"slice [{start}:{stop}] on axis {axis} is out of range for {format_shape(t.shape)}."
        )
    return TensorType(t.shape[:axis] + (stop - start,) + t.shape[axis + 1 :], t.dtype)


def _slice_reference(xs, at, ctx):
    index = [slice(None)] * xs[0].ndim
    index[at["axis"]] = slice(at["start"], at["stop"])
    return xs[0][tuple(index)]


def _slice_grad(x, y, g, at):
    axis, full = at["axis"], x[0].shape
    pieces = []
    for lo, hi in ((0, at["start"]), (at["stop"], full[axis])):
        if hi > lo:
            shape = full[:axis] + (hi - lo,) + full[axis + 1 :]
            pieces.append(emit("broadcast_to", 0.0, shape=shape))
    before = pieces[:1] if at["start"] > 0 else []
    after = pieces[len(before) :]
    return [emit("concat", *before, g, *after, axis=axis) if pieces else g]


def _broadcast_infer(types, attrs, origin):
    (t,) = types
    target = tuple(attrs["shape"])
    try:
        ok = broadcast_shapes(t.shape, target) == target
    except ValueError:
        ok = False
    if not ok:
        raise infer_error(origin, f"cannot broadcast {format_shape(t.shape)} to {format_shape(target)}.")
    return TensorType(target, t.dtype)


def _broadcast_reference(xs, at, ctx):
    shape = tuple(ctx.batch_size if d is None else d for d in at["shape"])
    return np.broadcast_to(xs[0], shape).copy()


def _broadcast_grad(x, y, g, at):
    from kgraph.ir.ops.elementwise import unbroadcast

    return [unbroadcast(g, x[0].shape)]


register(
    OpDef(
        "reshape",
        "injective",
        _reshape_infer,
        _reshape_reference,
        lambda x, y, g, at: [emit("reshape", g, shape=x[0].shape)],
    )
)
register(
    OpDef(
        "transpose",
        "injective",
        _transpose_infer,
        lambda xs, at, ctx: xs[0].transpose(at["perm"]),
        lambda x, y, g, at: [emit("transpose", g, perm=tuple(np.argsort(at["perm"]).tolist()))],
    )
)
register(
    OpDef(
        "concat",
        "injective",
        _concat_infer,
        lambda xs, at, ctx: np.concatenate(xs, axis=at["axis"]),
        _concat_grad,
    )
)
register(OpDef("slice", "injective", _slice_infer, _slice_reference, _slice_grad))
register(
    OpDef(
        "broadcast_to",
        "elementwise",
        _broadcast_infer,
        _broadcast_reference,
        _broadcast_grad,
        lambda args, at: args[0],
    )
)

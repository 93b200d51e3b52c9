"""Ops with no data inputs (inputs, variables, constants, the batch size, random numbers, indices) and the one
op with a side effect, `assign`, which writes a value into a variable's persistent storage.

The numpy references read a context with `inputs`, `variables`, `batch_size` and `rng`
(see `kgraph.runtime.interpreter`).
"""

from __future__ import annotations

import numpy as np

from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, format_shape


def _declared(types, attrs, origin):
    return TensorType(tuple(attrs["shape"]), attrs.get("dtype", "float32"))


def _scalar_f32(types, attrs, origin):
    return TensorType((), "float32")


def _assign_infer(types, attrs, origin):
    target, value = types
    if target.shape != value.shape:
        raise infer_error(
            origin,
            f"cannot assign a value of shape {format_shape(value.shape)} to a variable "
            f"of shape {format_shape(target.shape)}.",
        )
    return target


def _assign_reference(xs, at, ctx):
    ctx.variables[at["key"]][...] = xs[1]
    return xs[1]


def _iota_reference(xs, at, ctx):
    shape = tuple(ctx.batch_size if d is None else d for d in at["shape"])
    index = np.arange(shape[at["axis"]], dtype=np.float32)
    view = [1] * len(shape)
    view[at["axis"]] = -1
    return np.broadcast_to(index.reshape(view), shape).copy()


def _random_reference(xs, at, ctx):
    shape = tuple(ctx.batch_size if d is None else d for d in at["shape"])
    return ctx.rng.random(shape, dtype=np.float32)


register(OpDef("input", "source", _declared, lambda xs, at, ctx: ctx.inputs[at["name"]]))
register(OpDef("variable", "source", _declared, lambda xs, at, ctx: ctx.variables[at["key"]]))
register(
    OpDef(
        "const",
        "source",
        _declared,
        lambda xs, at, ctx: np.asarray(at["value"], dtype=at.get("dtype", "float32")),
    )
)
register(OpDef("batch_size", "source", _scalar_f32, lambda xs, at, ctx: np.float32(ctx.batch_size)))
register(OpDef("iota", "elementwise", _declared, _iota_reference, None, lambda args, at: "f32(iota)"))
register(
    OpDef(
        "random_uniform",
        "elementwise",
        _declared,
        _random_reference,
        None,
        lambda args, at: "f32(np.random.random())",
    )
)
register(OpDef("assign", "effect", _assign_infer, _assign_reference))

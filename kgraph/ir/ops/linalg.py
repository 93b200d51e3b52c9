"""Matrix product of two rank-2 values, with transposes folded into the op (they map to BLAS flags)."""

from __future__ import annotations

import numpy as np

from kgraph.ir.builder import emit
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, format_shape


def _infer(types, attrs, origin):
    a, b = types
    if a.rank != 2 or b.rank != 2:
        raise infer_error(
            origin,
            f"matmul needs rank-2 operands, received {format_shape(a.shape)} and {format_shape(b.shape)}.",
        )
    m, k = a.shape[::-1] if attrs.get("transpose_a") else a.shape
    k2, n = b.shape[::-1] if attrs.get("transpose_b") else b.shape
    if k != k2:
        raise infer_error(
            origin,
            f"matmul inner dimensions differ: {format_shape(a.shape)} x "
            f"{format_shape(b.shape)} (expected axis -1 of the input to be {k2}, "
            f"received {k}).",
        )
    return TensorType((m, n), "float32")


def _reference(xs, at, ctx):
    a, b = xs
    a = a.T if at.get("transpose_a") else a
    b = b.T if at.get("transpose_b") else b
    return np.matmul(a, b)


def _grad(x, y, g, at):
    a, b = x
    ta, tb = at.get("transpose_a", False), at.get("transpose_b", False)
    if not ta and not tb:
        return [emit("matmul", g, b, transpose_b=True), emit("matmul", a, g, transpose_a=True)]
    if ta and not tb:
        return [emit("matmul", b, g, transpose_b=True), emit("matmul", a, g)]
    if tb and not ta:
        return [emit("matmul", g, b), emit("matmul", g, a, transpose_a=True)]
    return [
        emit("matmul", b, g, transpose_a=True, transpose_b=True),
        emit("matmul", g, a, transpose_a=True, transpose_b=True),
    ]


register(OpDef("matmul", "gemm", _infer, _reference, _grad))

"""Matrix product, with transposes folded into the op (they map to BLAS flags).

Operands of rank > 2 are read as matrices over their leading axes, the way a GEMM sees a contiguous buffer:
`matmul(x (B,T,K), w (K,N))` is (B,T,N) (Dense on a sequence), and with `transpose_a` the leading axes of both
operands are contracted: `matmul(x (B,T,K), g (B,T,N), transpose_a=True)` is (K,N) (that Dense's weight
gradient). `transpose_b` needs a rank-2 `b`.
"""

from __future__ import annotations

import math

import numpy as np

from kgraph.ir.builder import emit
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, format_shape


def _infer(types, attrs, origin):
    a, b = types
    ta, tb = attrs.get("transpose_a", False), attrs.get("transpose_b", False)
    operands = f"{format_shape(a.shape)} x {format_shape(b.shape)}"

    def fail(message):
        return infer_error(origin, f"matmul {message}: {operands}.")

    if a.rank < 2 or b.rank < 2:
        raise fail("needs operands of rank 2 or more")
    if ta and not tb:  # contract the leading axes of both
        if a.shape[:-1] != b.shape[:-1]:
            raise fail("with transpose_a contracts the leading axes, which differ")
        return TensorType((a.shape[-1], b.shape[-1]), "float32")
    if b.rank != 2 or (ta and a.rank != 2):
        raise fail("needs a rank-2 second operand (and a rank-2 first operand with both transposes)")
    k2, n = b.shape[::-1] if tb else b.shape
    if ta:
        m, k = a.shape
        if m != k2:
            raise fail("inner dimensions differ")
        return TensorType((k, n), "float32")
    if a.shape[-1] != k2:
        raise fail(
            f"inner dimensions differ (expected axis -1 of the input to be {k2}, received {a.shape[-1]})"
        )
    return TensorType((*a.shape[:-1], n), "float32")


def _as_matrix(x):
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _reference(xs, at, ctx):
    a, b = xs
    lead = a.shape[:-1]
    a2, b2 = _as_matrix(a), _as_matrix(b)
    out = np.matmul(a2.T if at.get("transpose_a") else a2, b2.T if at.get("transpose_b") else b2)
    return out if at.get("transpose_a") else out.reshape(*lead, out.shape[-1])


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

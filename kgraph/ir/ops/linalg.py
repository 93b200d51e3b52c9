"""Matrix products, with transposes folded into the ops (they map to BLAS flags).

`matmul` multiplies by one matrix. Operands of rank > 2 are read as matrices over their leading axes, the
way a GEMM sees a contiguous buffer: `matmul(x (B,T,K), w (K,N))` is (B,T,N) (Dense on a sequence), and with
`transpose_a` the leading axes of both operands are contracted: `matmul(x (B,T,K), g (B,T,N),
transpose_a=True)` is (K,N) (that Dense's weight gradient). `transpose_b` needs a rank-2 `b`.

`batch_matmul` multiplies stacks of matrices pairwise (attention's queries by keys): `(S..., M, K)` by
`(S..., K, N)` is `(S..., M, N)` over the same leading axes `S`, the batch among them. It is an opaque op: one
GEMM per pair of matrices on the CPU, one thread per output element on CUDA; its transposes swap the last two
axes of an operand.
"""

from __future__ import annotations

import math

import numpy as np

from kgraph.ir.builder import emit
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, element_count_source, format_shape


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


def _product_grad(op: str):
    """The gradient rule of a product `op(a, b)` with transposes: each gradient is another `op` of the
    output gradient `g` with an operand (for `a @ b`: `g @ b^T` and `a^T @ g`)."""

    def grad(x, y, g, at):
        a, b = x
        ta, tb = at.get("transpose_a", False), at.get("transpose_b", False)
        if not ta and not tb:
            return [emit(op, g, b, transpose_b=True), emit(op, a, g, transpose_a=True)]
        if ta and not tb:
            return [emit(op, b, g, transpose_b=True), emit(op, a, g)]
        if tb and not ta:
            return [emit(op, g, b), emit(op, g, a, transpose_a=True)]
        return [
            emit(op, b, g, transpose_a=True, transpose_b=True),
            emit(op, g, a, transpose_a=True, transpose_b=True),
        ]

    return grad


register(OpDef("matmul", "gemm", _infer, _reference, _product_grad("matmul")))


# --- batch_matmul -----------------------------------------------------------------------------------------
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def _batch_dims(shape, transposed: bool) -> tuple:
    """(rows, cols) of each matrix of an operand as the product sees it."""
    rows, cols = shape[-2:]
    return (cols, rows) if transposed else (rows, cols)


def _batch_infer(types, attrs, origin):
    a, b = types
    operands = f"{format_shape(a.shape)} x {format_shape(b.shape)}"
    if a.rank < 3 or a.rank != b.rank:
        raise infer_error(origin, f"batch_matmul needs two operands of the same rank, 3 or more: {operands}.")
    if a.shape[:-2] != b.shape[:-2]:
        raise infer_error(origin, f"batch_matmul needs the same leading axes: {operands}.")
    m, k = _batch_dims(a.shape, attrs.get("transpose_a", False))
    k2, n = _batch_dims(b.shape, attrs.get("transpose_b", False))
    if k != k2:
        raise infer_error(origin, f"batch_matmul inner dimensions differ ({k} and {k2}): {operands}.")
    if None in (m, k, n):
        raise infer_error(origin, f"batch_matmul needs matrices of static size: {operands}.")
    return TensorType((*a.shape[:-2], m, n), "float32")


def _batch_reference(xs, at, ctx):
    a, b = xs
    a = np.swapaxes(a, -1, -2) if at.get("transpose_a") else a
    b = np.swapaxes(b, -1, -2) if at.get("transpose_b") else b
    return np.matmul(a, b)


def _batch_layout(shapes, out_shape, attrs) -> tuple[dict, list]:
    """The sizes the kernels are written with, and every operand's flat view shape."""
    a, b = shapes
    ta, tb = attrs.get("transpose_a", False), attrs.get("transpose_b", False)
    m, k = _batch_dims(a, ta)
    n = _batch_dims(b, tb)[1]
    sizes = {
        "m": m, "n": n, "k": k, "lda": a[-1], "ldb": b[-1], "ta": ta, "tb": tb,
        "a_size": a[-2] * a[-1], "b_size": b[-2] * b[-1], "o_size": m * n,
    }  # fmt: skip
    return sizes, [(element_count_source(s),) for s in (a, b, out_shape)]


def _batch_cpu(name, shapes, out_shape, attrs):
    z, views = _batch_layout(shapes, out_shape, attrs)
    if attrs.get("split", False):  # the program runs BLAS on one thread: a large slice splits across Numba's
        call = f"""sgemm_split(
            {z["ta"]}, {z["tb"]}, {z["m"]}, {z["n"]}, {z["k"]},
            a0, s * {z["a_size"]}, {z["lda"]}, a1, s * {z["b_size"]}, {z["ldb"]},
            f32(0.0), out, s * {z["o_size"]}, {z["n"]},
        )"""
    else:
        flags = f"{_ROW_MAJOR}, {_TRANS if z['ta'] else _NO_TRANS}, {_TRANS if z['tb'] else _NO_TRANS}"
        call = f"""sgemm(
            {flags}, {z["m"]}, {z["n"]}, {z["k"]}, f32(1.0),
            ptr(view(a0, s * {z["a_size"]}, (1,))), {z["lda"]},
            ptr(view(a1, s * {z["b_size"]}, (1,))), {z["ldb"]},
            f32(0.0), ptr(view(out, s * {z["o_size"]}, (1,))), {z["n"]},
        )"""
    source = f"""def {name}(a0, a1, out, n):
    for s in range(out.shape[0] // {z["o_size"]}):
        {call}
"""
    return source, views


def _batch_cuda(name, shapes, out_shape, attrs):
    z, views = _batch_layout(shapes, out_shape, attrs)
    a_at = "p * {lda} + i" if z["ta"] else "i * {lda} + p"
    b_at = "j * {ldb} + p" if z["tb"] else "p * {ldb} + j"
    source = f"""@cuda.jit(cache=CACHE)
def {name}_products(a0, a1, out):
    e = cuda.grid(1)
    if e < out.shape[0]:
        s = e // {z["o_size"]}
        i = (e % {z["o_size"]}) // {z["n"]}
        j = e % {z["n"]}
        acc = f32(0.0)
        for p in range({z["k"]}):
            acc += a0[s * {z["a_size"]} + {a_at.format(**z)}] * a1[s * {z["b_size"]} + {b_at.format(**z)}]
        out[e] = acc


def {name}(a0, a1, out, n, stream):
    {name}_products[blocks(out.shape[0], NT), NT, stream](a0, a1, out)
"""
    return source, views


register(
    OpDef(
        "batch_matmul",
        "opaque",
        _batch_infer,
        _batch_reference,
        _product_grad("batch_matmul"),
        lowerings={"cpu": _batch_cpu, "cuda": _batch_cuda},
    )
)

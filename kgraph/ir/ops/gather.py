"""Row gathers: `take` reads rows of a table by index (an embedding lookup), `scatter_add` is its gradient.

Both are opaque ops: each index picks a whole row, which no rows x columns loop over the output can express.
Indices are float32 like every value; they are truncated toward zero and clamped into the table, as JAX
clamps out-of-range gathers (Keras on JAX returns the edge row rather than failing).
"""

from __future__ import annotations

import math

import numpy as np

from kgraph.codegen.decorators import JIT, PARALLEL_JIT, ZERO_OUT, blocks_source
from kgraph.codegen.threads import SPLIT_MIN_ELEMENTS
from kgraph.ir.builder import emit
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, element_count_source, format_shape


def _row_width(table_shape) -> int:
    return math.prod(table_shape[1:])


def _clamped(indices: np.ndarray, rows: int) -> np.ndarray:
    return np.clip(np.trunc(indices).astype(np.int64), 0, rows - 1)


def _take_infer(types, attrs, origin):
    table, indices = types
    if table.rank < 1 or None in table.shape:
        raise infer_error(
            origin, f"take needs a table of static shape; received {format_shape(table.shape)}."
        )
    return TensorType((*indices.shape, *table.shape[1:]), "float32")


def _take_reference(xs, at, ctx):
    table, indices = xs
    return table[_clamped(indices, table.shape[0])]


def _take_grad(x, y, g, at):
    table, indices = x
    return [emit("scatter_add", g, indices, rows=table.shape[0]), None]


def _take_cpu(name, shapes, out_shape, attrs):
    table, indices = shapes
    rows, width, count = table[0], _row_width(table), element_count_source(indices)
    source = f"""def {name}(a0, a1, out, n):
    for i in range(a1.shape[0]):
        j = min(max(int(a1[i]), 0), {rows - 1})
        for c in range({width}):
            out[i, c] = a0[j, c]
"""
    return source, [(rows, width), (count,), (count, width)]


def _take_cuda(name, shapes, out_shape, attrs):
    table, indices = shapes
    rows, width, count = table[0], _row_width(table), element_count_source(indices)
    source = f"""@cuda.jit(cache=CACHE)
def {name}_rows(a0, a1, out):
    e = cuda.grid(1)
    if e < out.shape[0] * {width}:
        i = e // {width}
        j = min(max(int(a1[i]), 0), {rows - 1})
        out[i, e % {width}] = a0[j, e % {width}]


def {name}(a0, a1, out, n, stream):
    {name}_rows[blocks(a1.shape[0] * {width}, NT), NT, stream](a0, a1, out)
"""
    return source, [(rows, width), (count,), (count, width)]


def _scatter_infer(types, attrs, origin):
    values, indices = types
    lead = len(indices.shape)
    if tuple(values.shape[:lead]) != tuple(indices.shape):
        raise infer_error(
            origin,
            f"scatter_add values {format_shape(values.shape)} do not start with the indices' shape "
            f"{format_shape(indices.shape)}.",
        )
    return TensorType((attrs["rows"], *values.shape[lead:]), "float32")


def _scatter_reference(xs, at, ctx):
    values, indices = xs
    rows = at["rows"]
    out = np.zeros((rows, *values.shape[indices.ndim :]), values.dtype)
    np.add.at(out, _clamped(indices, rows).ravel(), values.reshape(indices.size, *out.shape[1:]))
    return out


def _scatter_cpu(name, shapes, out_shape, attrs):
    values, indices = shapes
    rows, width, count = attrs["rows"], _row_width(out_shape), element_count_source(indices)
    decorator, zero_block = "", ""
    zero = ZERO_OUT
    if attrs.get("split", False) and rows * width >= SPLIT_MIN_ELEMENTS:
        # A program on Numba's threads zeroes a large gradient (an embedding's: 10 MB) in blocks of rows, each
        # a flat fill (183 us against 293 us on one thread).
        decorator = f"{PARALLEL_JIT}\n"
        block = f"{name}_zero(view(out, lo * {width}, ((hi - lo) * {width},)))"
        zero = "\n".join(blocks_source(f"loop_parts({rows}, {width})", str(rows), block)) + "\n"
        zero_block = f"""

{JIT}
def {name}_zero(block):
    block[:] = f32(0.0)
"""
    source = f"""{decorator}def {name}(a0, a1, out, n):
{zero}    for i in range(a1.shape[0]):
        j = min(max(int(a1[i]), 0), {rows - 1})
        for c in range({width}):
            out[j, c] += a0[i, c]
{zero_block}"""
    return source, [(count, width), (count,), (rows, width)]


def _scatter_cuda(name, shapes, out_shape, attrs):
    values, indices = shapes
    rows, width, count = attrs["rows"], _row_width(out_shape), element_count_source(indices)
    source = f"""@cuda.jit(cache=CACHE)
def {name}_zero(out):
    e = cuda.grid(1)
    if e < {rows * width}:
        out[e // {width}, e % {width}] = f32(0.0)


@cuda.jit(cache=CACHE)
def {name}_add(a0, a1, out):
    e = cuda.grid(1)
    if e < a1.shape[0] * {width}:
        i = e // {width}
        j = min(max(int(a1[i]), 0), {rows - 1})
        cuda.atomic.add(out, (j, e % {width}), a0[i, e % {width}])


def {name}(a0, a1, out, n, stream):
    {name}_zero[blocks({rows * width}, NT), NT, stream](out)
    {name}_add[blocks(a1.shape[0] * {width}, NT), NT, stream](a0, a1, out)
"""
    return source, [(count, width), (count,), (rows, width)]


def _scatter_grad(x, y, g, at):
    values, indices = x
    return [emit("take", g, indices), None]


register(
    OpDef(
        "take",
        "opaque",
        _take_infer,
        _take_reference,
        _take_grad,
        lowerings={"cpu": _take_cpu, "cuda": _take_cuda},
    )
)
register(
    OpDef(
        "scatter_add",
        "opaque",
        _scatter_infer,
        _scatter_reference,
        _scatter_grad,
        lowerings={"cpu": _scatter_cpu, "cuda": _scatter_cuda},
    )
)

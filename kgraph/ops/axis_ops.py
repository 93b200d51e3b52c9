"""The functions of `keras.ops` that work along an axis or a pair of axes: `flip`, `roll`, `cumsum`,
`cumprod`, the triangles (`tril`, `triu`), the diagonals (`diag`, `diagonal`, `trace`) and `tensordot`.

On arrays each is numpy's own function. On symbolic tensors each is composed of primitives that keep every
value exact: slices and concatenations reorder, `where` with a constant mask selects (a product with a 0/1
matrix would turn an infinite or NaN entry it drops into NaN), and a cumulative sum is a log-depth scan of
shifted sums (its rounding differs from numpy's left-to-right sum by a few float32 ulps). The axes they run
along must have a static size: the batch axis of a traced layer has none.
"""

from __future__ import annotations

import math

import numpy as np

from kgraph.ops.array_ops import (
    _axes,
    add,
    concatenate,
    matmul,
    multiply,
    ndim,
    pad,
    reshape,
    shape,
    sum,
    transpose,
    where,
)
from kgraph.ops.dispatch import apply_op, eager_array, is_symbolic

__all__ = [
    "cumprod",
    "cumsum",
    "diag",
    "diagonal",
    "flip",
    "roll",
    "tensordot",
    "trace",
    "tril",
    "triu",
]

_MAX_FLIPPED = 512  # a traced flip is one slice per entry of the axis


def _static_size(x, axis: int, function: str) -> int:
    size = shape(x)[axis]
    if size is None:
        raise ValueError(
            f"{function} cannot run along axis {axis}: it is the batch axis, whose size is unknown while the "
            "program is traced."
        )
    return size


def _slice(x, axis: int, start: int, stop: int):
    return apply_op("slice", x, axis=axis, start=start, stop=stop)


def _flattened(x, function: str):
    """`x` as one axis (numpy's `axis=None`), which needs every size known."""
    for axis in range(ndim(x)):
        _static_size(x, axis, f"{function} with axis=None")
    return reshape(x, (-1,))


# --- reordering -----------------------------------------------------------------------------------
def flip(x, axis=None):
    """`x` with the order of its entries reversed along `axis` (every axis when None)."""
    if not is_symbolic([x]):
        return np.flip(eager_array(x), axis)
    for a in _axes(axis, ndim(x)):
        size = _static_size(x, a, "flip")
        if size > _MAX_FLIPPED:
            raise ValueError(
                f"flip of a traced axis of {size} entries is not supported (at most {_MAX_FLIPPED}): each "
                "entry becomes its own slice of the program."
            )
        if size > 1:
            x = concatenate([_slice(x, a, i, i + 1) for i in reversed(range(size))], a)
    return x


def roll(x, shift, axis=None):
    """`x` shifted by `shift` along `axis`, entries leaving one end entering at the other (numpy's `roll`)."""
    if not is_symbolic([x]):
        return np.roll(eager_array(x), shift, axis)
    if axis is None:
        return reshape(roll(_flattened(x, "roll"), shift, 0), shape(x))
    axes = [axis] if isinstance(axis, int) else list(axis)
    shifts = [shift] * len(axes) if isinstance(shift, int) else list(shift)
    if len(shifts) != len(axes):
        raise ValueError(f"roll needs one shift per axis, received shift={shift} and axis={axis}.")
    for s, a in zip(shifts, axes, strict=True):
        a = _axes(a, ndim(x))[0]
        size = _static_size(x, a, "roll")
        s %= size
        if s:
            x = concatenate([_slice(x, a, size - s, size), _slice(x, a, 0, size - s)], a)
    return x


# --- cumulative sums and products -----------------------------------------------------------------
def _scan(x, axis, combine, identity: float, function: str):
    """Inclusive scan along `axis`: after the step of width w, entry i combines entries i - 2w + 1 .. i."""
    if axis is None:
        x, axis = _flattened(x, function), 0
    axis = _axes(axis, ndim(x))[0]
    size = _static_size(x, axis, function)
    width = 1
    while width < size:
        before = [(width, 0) if a == axis else (0, 0) for a in range(ndim(x))]
        x = combine(x, pad(_slice(x, axis, 0, size - width), before, constant_values=identity))
        width *= 2
    return x


def _eager_scan(numpy_scan, x, axis, dtype):
    array = eager_array(x)
    return numpy_scan(array, axis=axis).astype(dtype or array.dtype)


def cumsum(x, axis=None, dtype=None):
    """Sums of the entries up to each one along `axis` (of the flattened `x` when None)."""
    if not is_symbolic([x]):
        return _eager_scan(np.cumsum, x, axis, dtype)
    return _scan(x, axis, add, 0.0, "cumsum")


def cumprod(x, axis=None, dtype=None):
    """Products of the entries up to each one along `axis` (of the flattened `x` when None)."""
    if not is_symbolic([x]):
        return _eager_scan(np.cumprod, x, axis, dtype)
    return _scan(x, axis, multiply, 1.0, "cumprod")


# --- triangles and diagonals ----------------------------------------------------------------------
def _keep_triangle(x, mask_of, function: str):
    if not is_symbolic([x]):
        return None
    if ndim(x) < 2:
        raise ValueError(f"{function} needs a tensor of rank >= 2, received shape {shape(x)}.")
    rows, cols = (_static_size(x, a, function) for a in (ndim(x) - 2, ndim(x) - 1))
    return where(mask_of(rows, cols), x, 0.0)


def tril(x, k=0):
    """`x` with the entries above its `k`-th diagonal (of the last two axes) set to zero."""
    kept = _keep_triangle(x, lambda r, c: np.tri(r, c, k, dtype=np.float32), "tril")
    return np.tril(eager_array(x), k) if kept is None else kept


def triu(x, k=0):
    """`x` with the entries below its `k`-th diagonal (of the last two axes) set to zero."""
    kept = _keep_triangle(x, lambda r, c: 1.0 - np.tri(r, c, k - 1, dtype=np.float32), "triu")
    return np.triu(eager_array(x), k) if kept is None else kept


def diagonal(x, offset=0, axis1=0, axis2=1):
    """The `offset`-th diagonal of the planes spanned by `axis1` and `axis2`, as the last axis (numpy's)."""
    if not is_symbolic([x]):
        return np.diagonal(eager_array(x), offset, axis1, axis2)
    rank = ndim(x)
    a1, a2 = (a % rank for a in (axis1, axis2))
    if a1 == a2:
        raise ValueError(f"diagonal needs two different axes, received axis1={axis1} and axis2={axis2}.")
    rows, cols = _static_size(x, a1, "diagonal"), _static_size(x, a2, "diagonal")
    planes = transpose(x, [a for a in range(rank) if a not in (a1, a2)] + [a1, a2])
    # Each column of the masked plane holds at most one diagonal entry: summing its rows picks it exactly.
    picked = sum(where(np.eye(rows, cols, offset, dtype=np.float32), planes, 0.0), axis=-2)
    start = max(offset, 0)
    stop = max(min(cols, rows + offset), start)
    return _slice(picked, ndim(picked) - 1, start, stop)


def trace(x, offset=0, axis1=0, axis2=1):
    """The sum of the `offset`-th diagonal of the planes spanned by `axis1` and `axis2`."""
    if not is_symbolic([x]):
        return np.trace(eager_array(x), offset, axis1, axis2)
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diag(x, k=0):
    """The `k`-th diagonal of a matrix, or a square matrix with the vector `x` on its `k`-th diagonal."""
    if not is_symbolic([x]):
        return np.diag(eager_array(x), k)
    if ndim(x) == 2:
        return diagonal(x, k)
    if ndim(x) != 1:
        raise ValueError(f"diag needs a vector or a matrix, received shape {shape(x)}.")
    size = _static_size(x, 0, "diag") + abs(k)
    row = pad(x, [(k, 0) if k >= 0 else (0, -k)])  # entry j of every row is the one column j would hold
    return where(np.eye(size, size, k, dtype=np.float32), reshape(row, (1, size)), 0.0)


# --- contraction ----------------------------------------------------------------------------------
def tensordot(x1, x2, axes=2):
    """Sum of products over `axes` (a count of the last axes of `x1` and the first of `x2`, or two lists)."""
    if not is_symbolic([x1, x2]):
        return np.tensordot(eager_array(x1), eager_array(x2), axes)
    if isinstance(axes, int):
        summed1, summed2 = list(range(ndim(x1) - axes, ndim(x1))), list(range(axes))
    else:
        summed1, summed2 = ([a] if isinstance(a, int) else list(a) for a in axes)
    summed1, summed2 = [a % ndim(x1) for a in summed1], [a % ndim(x2) for a in summed2]
    if [shape(x1)[a] for a in summed1] != [shape(x2)[a] for a in summed2]:
        raise ValueError(
            f"tensordot sums over axes of different sizes: {[shape(x1)[a] for a in summed1]} of x1 "
            f"(shape {shape(x1)}) and {[shape(x2)[a] for a in summed2]} of x2 (shape {shape(x2)})."
        )
    kept1 = [a for a in range(ndim(x1)) if a not in summed1]
    kept2 = [a for a in range(ndim(x2)) if a not in summed2]
    for a in [*summed2, *kept2]:
        _static_size(x2, a, "tensordot of x2")
    for a in summed1:
        _static_size(x1, a, "tensordot of x1")
    inner = math.prod(shape(x2)[a] for a in summed2)
    left = reshape(transpose(x1, kept1 + summed1), (-1, inner))
    right = reshape(transpose(x2, summed2 + kept2), (inner, -1))
    result_shape = tuple(shape(x1)[a] for a in kept1) + tuple(shape(x2)[a] for a in kept2)
    return reshape(matmul(left, right), tuple(-1 if d is None else d for d in result_shape))

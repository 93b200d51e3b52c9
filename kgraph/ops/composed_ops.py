"""More numpy functions of `keras.ops`, each composed of the primitives of `array_ops` (so each runs eagerly
and traces, with gradients, like them): constants, logical functions on 0/1 values, `logsumexp`, `mod`, axis
moves, `tile`, `split` and a few reductions.

Comparisons give float 0/1 in kgraph (the arena holds float32), so the logical functions take and give 0/1.
"""

from __future__ import annotations

import numpy as np

from kgraph.ir.builder import Sym
from kgraph.ops.array_ops import (
    _axes,
    add,
    concatenate,
    divide,
    equal,
    exp,
    floor,
    log,
    max,
    maximum,
    mean,
    min,
    multiply,
    ndim,
    not_equal,
    reshape,
    shape,
    squeeze,
    stop_gradient,
    subtract,
    sum,
    transpose,
    zeros_like,
)
from kgraph.ops.dispatch import apply_op

__all__ = [
    "all",
    "any",
    "average",
    "count_nonzero",
    "eye",
    "floor_divide",
    "full",
    "full_like",
    "isnan",
    "logical_and",
    "logical_not",
    "logical_or",
    "logsumexp",
    "mod",
    "moveaxis",
    "ones",
    "outer",
    "ravel",
    "split",
    "swapaxes",
    "tile",
    "tri",
    "zeros",
]


def _dtype(dtype):
    return np.float32 if dtype in (None, "float32", np.float32) else np.dtype(dtype)


# --- constants: arrays, which traced code takes in as constants -----------------------------------
def zeros(shape, dtype=None):  # noqa: A002 - numpy's name
    return np.zeros(shape, _dtype(dtype))


def ones(shape, dtype=None):  # noqa: A002 - numpy's name
    return np.ones(shape, _dtype(dtype))


def full(shape, fill_value, dtype=None):  # noqa: A002 - numpy's name
    return np.full(shape, fill_value, _dtype(dtype))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - numpy's names
    return np.eye(N, M, k, dtype=_dtype(dtype))


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 - numpy's names
    """Ones on and below the `k`-th diagonal of an N x M matrix, zeros above."""
    return np.tri(N, M, k, dtype=_dtype(dtype))


def full_like(x, fill_value, dtype=None):
    return add(zeros_like(x), float(fill_value))


# --- logical functions on 0/1 values --------------------------------------------------------------
def logical_not(x):
    return equal(x, 0.0)


def logical_and(x1, x2):
    return multiply(not_equal(x1, 0.0), not_equal(x2, 0.0))


def logical_or(x1, x2):
    return maximum(not_equal(x1, 0.0), not_equal(x2, 0.0))


def any(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    return max(not_equal(x, 0.0), axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    return min(not_equal(x, 0.0), axis, keepdims)


def isnan(x):
    """1 where `x` is NaN (the one value not equal to itself)."""
    return not_equal(x, x)


def count_nonzero(x, axis=None):
    counted = sum(not_equal(x, 0.0), axis)
    return counted if isinstance(counted, Sym) else np.asarray(counted).astype(np.int32)


# --- arithmetic -----------------------------------------------------------------------------------
def floor_divide(x1, x2):
    return floor(divide(x1, x2))


def mod(x1, x2):
    """numpy's remainder: the result has the sign of the divisor."""
    return subtract(x1, multiply(floor_divide(x1, x2), x2))


def logsumexp(x, axis=None, keepdims=False):
    """`log(sum(exp(x)))` over `axis`, shifted by the maximum so that it neither overflows nor underflows."""
    top = stop_gradient(max(x, axis, keepdims=True))
    total = add(log(sum(exp(subtract(x, top)), axis, keepdims=True)), top)
    if keepdims:
        return total
    return squeeze(total, axis) if axis is not None else reshape(total, ())


def average(x, axis=None, weights=None):
    """The mean over `axis`, or the `weights`-weighted mean (1-D weights run along `axis`, as numpy's)."""
    if weights is None:
        return mean(x, axis)
    if axis is not None and ndim(weights) == 1 and ndim(x) > 1:
        (axis,) = _axes(axis, ndim(x))
        weights = reshape(weights, tuple(-1 if i == axis else 1 for i in range(ndim(x))))
    return divide(sum(multiply(x, weights), axis), sum(add(zeros_like(x), weights), axis))


def outer(x1, x2):
    return multiply(reshape(x1, (-1, 1)), reshape(x2, (1, -1)))


# --- shapes ---------------------------------------------------------------------------------------
def ravel(x):
    return reshape(x, (-1,))


def swapaxes(x, axis1, axis2):
    perm = list(range(ndim(x)))
    a, b = axis1 % len(perm), axis2 % len(perm)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x, source, destination):
    rank = ndim(x)
    sources = [s % rank for s in (source if isinstance(source, list | tuple) else [source])]
    targets = [d % rank for d in (destination if isinstance(destination, list | tuple) else [destination])]
    rest = [a for a in range(rank) if a not in sources]
    perm = [None] * rank
    for s, d in zip(sources, targets, strict=True):
        perm[d] = s
    remaining = iter(rest)
    return transpose(x, [p if p is not None else next(remaining) for p in perm])


def tile(x, repeats):
    """`x` repeated `repeats[i]` times along axis i (repeats align with the last axes, as numpy's)."""
    repeats = [repeats] if isinstance(repeats, int) else list(repeats)
    while len(repeats) > ndim(x):
        x = reshape(x, (1, *shape(x)))
    repeats = [1] * (ndim(x) - len(repeats)) + repeats
    for axis, count in enumerate(repeats):
        if count != 1:
            x = concatenate([x] * count, axis=axis)
    return x


def split(x, indices_or_sections, axis=0):
    """Pieces of `x` along `axis`: `n` equal ones, or cut at the given indices."""
    axis = axis % ndim(x)
    size = shape(x)[axis]
    if size is None:
        raise ValueError("split cannot cut the batch axis: its size is unknown while the program is traced.")
    if isinstance(indices_or_sections, int):
        if size % indices_or_sections:
            raise ValueError(
                f"array split does not result in an equal division: {size} into {indices_or_sections}."
            )
        step = size // indices_or_sections
        cuts = list(range(step, size, step))
    else:
        cuts = [int(i) for i in indices_or_sections]
    bounds = zip([0, *cuts], [*cuts, size], strict=True)
    return [apply_op("slice", x, axis=axis, start=a, stop=b) for a, b in bounds]

"""The numpy-like functions of `kgraph.ops`: arithmetic, reductions, shapes, activations.

Each maps onto primitive IR ops through `dispatch.apply_op`, so it computes on arrays and traces on tensors.
"""

from __future__ import annotations

import math

import numpy as np

from kgraph.ir.builder import Sym, current_graph, emit
from kgraph.ops.dispatch import EagerContext, apply_op, eager_array, is_symbolic


def convert_to_tensor(x, dtype=None):
    """Symbolic tensors pass through; anything else becomes a numpy array of `dtype` (default float32)."""
    if isinstance(x, Sym):
        return x if dtype in (None, x.dtype) else cast(x, dtype)
    return np.asarray(x, dtype=dtype or (np.float32 if np.asarray(x).dtype.kind == "f" else None))


def convert_to_numpy(x) -> np.ndarray:
    if isinstance(x, Sym):
        raise ValueError("A symbolic tensor has no value outside a running program.")
    return np.asarray(x)


def shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def ndim(x) -> int:
    return len(shape(x))


# --- elementwise ----------------------------------------------------------------------------------
def add(x1, x2):
    return apply_op("add", x1, x2)


def subtract(x1, x2):
    return apply_op("sub", x1, x2)


def multiply(x1, x2):
    return apply_op("mul", x1, x2)


def divide(x1, x2):
    return apply_op("div", x1, x2)


true_divide = divide


def power(x1, x2):
    return apply_op("pow", x1, x2)


def negative(x):
    return apply_op("neg", x)


def maximum(x1, x2):
    return apply_op("maximum", x1, x2)


def minimum(x1, x2):
    return apply_op("minimum", x1, x2)


def greater(x1, x2):
    return apply_op("greater", x1, x2)


def greater_equal(x1, x2):
    return apply_op("greater_equal", x1, x2)


def less(x1, x2):
    return apply_op("less", x1, x2)


def less_equal(x1, x2):
    return apply_op("less_equal", x1, x2)


def equal(x1, x2):
    return apply_op("equal", x1, x2)


def not_equal(x1, x2):
    return subtract(1.0, equal(x1, x2))


def where(condition, x1, x2):
    return apply_op("where", condition, x1, x2)


def clip(x, x_min, x_max):
    return apply_op("clip", x, lo=float(x_min), hi=float(x_max))


def _unary(op: str):
    def fn(x):
        return apply_op(op, x)

    fn.__name__ = op
    fn.__doc__ = f"Elementwise `{op}`."
    return fn


exp = _unary("exp")
log = _unary("log")
log1p = _unary("log1p")
expm1 = _unary("expm1")
sqrt = _unary("sqrt")
square = _unary("square")
absolute = _unary("abs")
abs = absolute  # noqa: A001 - numpy's name
sign = _unary("sign")
floor = _unary("floor")
cos = _unary("cos")
sin = _unary("sin")
erf = _unary("erf")
tanh = _unary("tanh")
sigmoid = _unary("sigmoid")
relu = _unary("relu")
softplus = _unary("softplus")
stop_gradient = _unary("stop_gradient")


def cast(x, dtype):
    dtype = np.dtype(dtype).name
    return apply_op("cast", x, dtype="float32" if dtype.startswith("float") else "int32")


def ceil(x):
    return negative(floor(negative(x)))


def round(x):  # noqa: A001 - numpy's name
    return floor(add(x, 0.5))


def reciprocal(x):
    return divide(1.0, x)


def rsqrt(x):
    return divide(1.0, sqrt(x))


# --- reductions -----------------------------------------------------------------------------------
def _axes(axis, rank: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(rank))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"axis {a} is out of bounds for a tensor of rank {rank}.")
        normalized.append(a % rank)
    return tuple(sorted(set(normalized)))


def sum(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    return apply_op("sum", x, axes=_axes(axis, ndim(x)), keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    return apply_op("max", x, axes=_axes(axis, ndim(x)), keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    return apply_op("min", x, axes=_axes(axis, ndim(x)), keepdims=keepdims)


amax, amin = max, min


def argmax(x, axis=None, keepdims=False):
    """Indices of the largest values along `axis`; with axis None, the index into the flattened `x`."""
    return _arg_reduction("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Indices of the smallest values along `axis`; with axis None, the index into the flattened `x`."""
    return _arg_reduction("argmin", x, axis, keepdims)


def _arg_reduction(op: str, x, axis, keepdims: bool):
    if axis is not None:
        return _indices(apply_op(op, x, axes=_axes(axis, ndim(x)), keepdims=keepdims))
    rank = ndim(x)
    if None in shape(x):
        raise ValueError(
            f"{op} with axis=None indexes the flattened tensor, which over a batch of unknown size (shape "
            f"{shape(x)}) has no static length; pass an axis, e.g. axis=-1."
        )
    found = apply_op(op, reshape(x, (-1,)), axes=(0,), keepdims=False)
    return _indices(reshape(found, (1,) * rank) if keepdims else found)


def _indices(result):
    """Eager indices come back as int32, as in Keras; traced ones stay float32 (the arena holds float32 only,
    exact below 2**24)."""
    return result if isinstance(result, Sym) else np.asarray(result).astype(np.int32)


def count(x, axis=None):
    """Number of elements reduced over `axis`: a number, or a symbolic scalar when the batch is involved."""
    dims = [shape(x)[a] for a in _axes(axis, ndim(x))]
    static = math.prod(d for d in dims if d is not None)
    if None in dims:
        return multiply(emit("batch_size"), float(static))
    return float(static)


def mean(x, axis=None, keepdims=False):
    return divide(sum(x, axis, keepdims), count(x, axis))


def var(x, axis=None, keepdims=False):
    centered = subtract(x, mean(x, axis, keepdims=True))
    return mean(square(centered), axis, keepdims)


def std(x, axis=None, keepdims=False):
    return sqrt(var(x, axis, keepdims))


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - numpy's name
    if ord not in (None, 2, "fro", "euclidean"):
        raise ValueError(f"norm supports the 2-norm only, received ord={ord!r}.")
    return sqrt(sum(square(x), axis, keepdims))


# --- shapes ---------------------------------------------------------------------------------------
def _resolve_shape(old, new) -> tuple:
    """Resolves -1 in `new`; a -1 on a value with a batch dimension stands for the batch."""
    new = tuple(new)
    static_old = math.prod(d for d in old if d is not None)
    if new.count(-1) > 1:
        raise ValueError(f"Only one dimension of a new shape may be -1, received {new}.")
    if -1 in new:
        static_new = math.prod(d for d in new if d not in (-1, None))
        if None in old:
            if static_new != static_old:
                raise ValueError(f"Cannot reshape a tensor of shape {old} into {new}.")
            return tuple(None if d == -1 else d for d in new)
        if static_new == 0 or static_old % static_new:
            raise ValueError(f"Cannot reshape a tensor of shape {old} into {new}.")
        return tuple(static_old // static_new if d == -1 else d for d in new)
    return new


def reshape(x, newshape):
    target = _resolve_shape(shape(x), newshape)
    if is_symbolic([x]):
        return emit("reshape", x, shape=target)
    return np.reshape(eager_array(x), tuple(-1 if d is None else d for d in target))


def transpose(x, axes=None):
    rank = ndim(x)
    perm = tuple(reversed(range(rank))) if axes is None else tuple(a % rank for a in axes)
    return apply_op("transpose", x, perm=perm)


def expand_dims(x, axis):
    s = list(shape(x))
    axis = axis % (len(s) + 1)
    s.insert(axis, 1)
    return reshape(x, tuple(s))


def squeeze(x, axis=None):
    s = shape(x)
    axes = [i for i, d in enumerate(s) if d == 1] if axis is None else list(_axes(axis, len(s)))
    for a in axes:
        if s[a] != 1:
            raise ValueError(f"Cannot squeeze axis {a} of a tensor of shape {s}: its size is not 1.")
    return reshape(x, tuple(d for i, d in enumerate(s) if i not in axes))


def broadcast_to(x, shape):  # noqa: A002 - numpy's name
    return apply_op("broadcast_to", x, shape=tuple(shape))


def concatenate(xs, axis=0):
    xs = list(xs)
    return apply_op("concat", *xs, axis=axis % ndim(xs[0]))


def stack(xs, axis=0):
    return concatenate([expand_dims(x, axis) for x in xs], axis)


def zeros_like(x):
    return emit("broadcast_to", 0.0, shape=shape(x)) if is_symbolic([x]) else np.zeros(shape(x), np.float32)


def ones_like(x):
    return emit("broadcast_to", 1.0, shape=shape(x)) if is_symbolic([x]) else np.ones(shape(x), np.float32)


def one_hot(x, num_classes: int, axis=-1):
    """One-hot float32 encoding of integer labels (labels out of range give all-zero rows)."""
    if axis != -1:
        raise ValueError("one_hot supports axis=-1 only.")
    columns = (
        emit("iota", shape=(*shape(x), num_classes), axis=ndim(x))
        if is_symbolic([x])
        else np.arange(num_classes, dtype=np.float32)
    )
    return equal(expand_dims(cast(x, "float32"), -1), columns)


# --- linear algebra -------------------------------------------------------------------------------
def matmul(x1, x2):
    """Matrix product; symbolic operands are a matrix (or a stack of rows, rank > 2) times a matrix, or two
    stacks of matrices with the same leading axes, multiplied pairwise."""
    if is_symbolic([x1, x2]):
        if ndim(x1) >= 3 and ndim(x1) == ndim(x2) and shape(x1)[:-2] == shape(x2)[:-2]:
            return emit("batch_matmul", x1, x2)
        if ndim(x1) < 2 or ndim(x2) != 2:
            raise ValueError(
                "matmul of symbolic tensors needs a first operand of rank >= 2 and a rank-2 second operand, "
                f"or two operands of the same rank with the same leading axes; received shapes {shape(x1)} "
                f"and {shape(x2)}."
            )
        return emit("matmul", x1, x2)
    return np.matmul(eager_array(x1), eager_array(x2))


dot = matmul


def take(x, indices, axis=0):
    """Rows of `x` picked by `indices` (an embedding lookup); indices outside `x` are clamped, as on JAX."""
    if axis != 0:
        raise ValueError(f"take supports axis=0 only, received axis={axis}.")
    return apply_op("take", x, cast(indices, "float32") if not is_symbolic([indices]) else indices)


# --- neural-network functions ---------------------------------------------------------------------
def softmax(x, axis=-1):
    shifted = subtract(x, stop_gradient(max(x, axis, keepdims=True)))
    e = exp(shifted)
    return divide(e, sum(e, axis, keepdims=True))


def log_softmax(x, axis=-1):
    shifted = subtract(x, stop_gradient(max(x, axis, keepdims=True)))
    return subtract(shifted, log(sum(exp(shifted), axis, keepdims=True)))


def log_sigmoid(x):
    return negative(softplus(negative(x)))


def l2_normalize(x, axis=-1, epsilon=1e-12):
    return divide(x, sqrt(maximum(sum(square(x), axis, keepdims=True), epsilon)))


def random_uniform(shape):  # noqa: A002
    """Uniform [0, 1) numbers drawn anew at every run of the program."""
    if current_graph() is not None:
        return emit("random_uniform", shape=tuple(shape))
    return EagerContext.rng.random(tuple(shape), dtype=np.float32)


def random_normal(shape, mean=0.0, stddev=1.0):  # noqa: A002
    """Normal numbers drawn anew at every run of the program (Box-Muller from two uniform draws)."""
    radius = sqrt(multiply(-2.0, log(subtract(1.0, random_uniform(shape)))))  # 1 - u is in (0, 1]
    angle = multiply(2.0 * math.pi, random_uniform(shape))
    return add(multiply(multiply(radius, cos(angle)), stddev), mean)


def pad(x, pad_width, constant_values=0.0):
    """`x` with `(before, after)` constant entries around each axis (`pad_width` has one pair per axis)."""
    if len(pad_width) != ndim(x):
        raise ValueError(f"pad needs one (before, after) pair per axis of {shape(x)}, received {pad_width}.")
    symbolic = is_symbolic([x])

    def fill(axis, count):
        size = (*shape(x)[:axis], count, *shape(x)[axis + 1 :])
        if symbolic:
            return emit("broadcast_to", float(constant_values), shape=size)
        return np.full(size, constant_values, np.float32)

    for axis, (before, after) in enumerate(pad_width):
        if before or after:
            parts = [fill(axis, before)] if before else []
            parts += [x] + ([fill(axis, after)] if after else [])
            x = concatenate(parts, axis)
    return x


def repeat(x, repeats: int, axis: int):
    """Each entry of `x` repeated `repeats` times along `axis` (numpy's `repeat` with an integer count)."""
    s = list(shape(x))
    axis = axis % len(s)
    tiled = broadcast_to(expand_dims(x, axis + 1), (*s[: axis + 1], repeats, *s[axis + 1 :]))
    size = None if s[axis] is None else s[axis] * repeats
    return reshape(tiled, (*s[:axis], size, *s[axis + 1 :]))

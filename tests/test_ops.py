"""kgraph.ops against numpy: eagerly on arrays, and traced and compiled (through kgraph.function)."""

import math

import numpy as np
import pytest

import kgraph
from kgraph import ops

rng = np.random.default_rng(0)
A = rng.normal(size=(3, 4)).astype(np.float32)
B = rng.normal(size=(4,)).astype(np.float32)  # broadcasts against A's rows
M = rng.normal(size=(4, 5)).astype(np.float32)
P = rng.uniform(0.1, 2.0, size=(3, 4)).astype(np.float32)  # positive: log, sqrt
LABELS = np.array([2.0, 0.0, 3.0], np.float32)
T = rng.normal(size=(2, 3, 4)).astype(np.float32)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _outer_of_last_column(a):
    return a[..., -1][:, None] * a[None, 1]


# name -> (kgraph function of the inputs, numpy reference, inputs)
CASES = {
    "add": (ops.add, np.add, (A, B)),
    "subtract": (ops.subtract, np.subtract, (A, B)),
    "multiply": (ops.multiply, np.multiply, (A, B)),
    "divide": (ops.divide, np.divide, (A, P)),
    "matmul": (ops.matmul, np.matmul, (A, M)),
    "exp": (ops.exp, np.exp, (A,)),
    "log": (ops.log, np.log, (P,)),
    "sqrt": (ops.sqrt, np.sqrt, (P,)),
    "square": (ops.square, np.square, (A,)),
    "abs": (ops.abs, np.abs, (A,)),
    "maximum": (ops.maximum, np.maximum, (A, B)),
    "minimum": (ops.minimum, np.minimum, (A, B)),
    "where": (lambda a, b: ops.where(ops.greater(a, 0.0), a, b), lambda a, b: np.where(a > 0, a, b), (A, B)),
    "where_infinite": (  # an infinite constant in generated source
        lambda a: ops.where(ops.greater(a, 0.0), a, -np.inf),
        lambda a: np.where(a > 0, a, -np.inf),
        (A,),
    ),
    "clip": (lambda a: ops.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), (A,)),
    "sum": (lambda a: ops.sum(a, axis=0), lambda a: a.sum(0), (A,)),
    "sum_all": (ops.sum, np.sum, (A,)),
    "mean": (lambda a: ops.mean(a, axis=-1, keepdims=True), lambda a: a.mean(-1, keepdims=True), (A,)),
    "max": (lambda a: ops.max(a, axis=1), lambda a: a.max(1), (A,)),
    "min": (lambda a: ops.min(a, axis=0), lambda a: a.min(0), (A,)),
    "argmax": (lambda a: ops.argmax(a, axis=-1), lambda a: a.argmax(-1), (A,)),
    "argmax_axis0": (lambda a: ops.argmax(a, axis=0, keepdims=True), lambda a: a.argmax(0)[None], (A,)),
    "argmin_flattened": (ops.argmin, np.argmin, (A,)),
    "reshape": (lambda a: ops.reshape(a, (2, 6)), lambda a: a.reshape(2, 6), (A,)),
    "transpose": (ops.transpose, np.transpose, (A,)),
    "concatenate": (lambda a, p: ops.concatenate([a, p]), lambda a, p: np.concatenate([a, p]), (A, P)),
    "stack": (lambda a, p: ops.stack([a, p], axis=1), lambda a, p: np.stack([a, p], axis=1), (A, P)),
    "expand_dims": (lambda a: ops.expand_dims(a, 1), lambda a: np.expand_dims(a, 1), (A,)),
    "squeeze": (lambda a: ops.squeeze(ops.expand_dims(a, 0), 0), lambda a: a, (A,)),
    "one_hot": (lambda y: ops.one_hot(y, 4), lambda y: np.eye(4, dtype=np.float32)[y.astype(int)], (LABELS,)),
    "cast": (lambda a: ops.cast(ops.greater(a, 0.0), "float32"), lambda a: (a > 0).astype(np.float32), (A,)),
    "softmax": (ops.softmax, _softmax, (A,)),
    "relu": (ops.relu, lambda a: np.maximum(a, 0), (A,)),
    "sigmoid": (ops.sigmoid, lambda a: 1 / (1 + np.exp(-a)), (A,)),
    "tanh": (ops.tanh, np.tanh, (A,)),
    "leaky_relu": (ops.leaky_relu, lambda a: np.where(a >= 0, a, 0.2 * a), (A,)),
    "relu6": (lambda a: ops.relu6(4.0 * a), lambda a: np.clip(4.0 * a, 0, 6), (A,)),
    "elu": (lambda a: ops.elu(a, alpha=0.5), lambda a: np.where(a > 0, a, 0.5 * np.expm1(a)), (A,)),
    "selu": (
        ops.selu,
        lambda a: 1.0507009873554805 * np.where(a > 0, a, 1.6732632423543772 * np.expm1(a)),
        (A,),
    ),
    "celu": (ops.celu, lambda a: np.maximum(a, 0) + np.expm1(np.minimum(a, 0)), (A,)),
    "softsign": (ops.softsign, lambda a: a / (np.abs(a) + 1), (A,)),
    "silu": (ops.silu, lambda a: a / (1 + np.exp(-a)), (A,)),
    "swish": (ops.swish, lambda a: a / (1 + np.exp(-a)), (A,)),
    "gelu_tanh_by_default": (  # keras.ops.gelu approximates; keras.activations.gelu does not
        ops.gelu,
        lambda a: 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a**3))),
        (A,),
    ),
    "gelu_exact": (
        lambda a: ops.gelu(a, approximate=False),
        lambda a: a * 0.5 * (1 + np.vectorize(math.erf)(a / np.sqrt(2))),
        (A,),
    ),
    "hard_sigmoid": (lambda a: ops.hard_sigmoid(3.0 * a), lambda a: np.clip((3.0 * a + 3) / 6, 0, 1), (A,)),
    "hard_silu": (
        lambda a: ops.hard_silu(3.0 * a),
        lambda a: 3.0 * a * np.clip((3.0 * a + 3) / 6, 0, 1),
        (A,),
    ),
    "hard_tanh": (lambda a: ops.hard_tanh(2.0 * a), lambda a: np.clip(2.0 * a, -1, 1), (A,)),
    "zeros_ones_full_eye": (
        lambda a: a * ops.ones((3, 4)) + ops.zeros((4,)) + ops.full((3, 1), 2.0) + ops.eye(3, 4),
        lambda a: a + 2.0 + np.eye(3, 4),
        (A,),
    ),
    "full_like": (lambda a: ops.full_like(a, 3.0) * a, lambda a: 3.0 * a, (A,)),
    "logical": (
        lambda a, b: ops.logical_or(ops.logical_and(a > 0, b > 0), ops.logical_not(a > -0.5)),
        lambda a, b: ((a > 0) & (b > 0)) | ~(a > -0.5),
        (A, B),
    ),
    "any_all": (
        lambda a: ops.any(a > 1.0, axis=0) + ops.all(a > -2.0, axis=-1, keepdims=True),
        lambda a: (a > 1.0).any(0) * 1.0 + (a > -2.0).all(-1, keepdims=True) * 1.0,
        (A,),
    ),
    "isnan": (lambda a: ops.isnan(ops.log(a)), lambda a: np.isnan(np.log(a)), (A,)),
    "count_nonzero": (lambda a: ops.count_nonzero(ops.relu(a), axis=1), lambda a: (a > 0).sum(1), (A,)),
    "mod_floor_divide": (
        lambda a, p: ops.mod(a, p) + ops.floor_divide(a, 0.3),
        lambda a, p: np.mod(a, p) + np.floor_divide(a, 0.3),
        (A, P),
    ),
    "logsumexp": (
        lambda a: ops.logsumexp(a * 30.0, axis=-1) + ops.logsumexp(a),
        lambda a: (
            np.log(np.exp(a.astype(np.float64) * 30).sum(-1)) + np.log(np.exp(a.astype(np.float64)).sum())
        ),
        (A,),
    ),
    "average": (
        lambda a: ops.average(a, axis=1, weights=np.array([1.0, 2.0, 3.0, 4.0], np.float32)) + ops.average(a),
        lambda a: np.average(a, axis=1, weights=[1.0, 2.0, 3.0, 4.0]) + np.average(a),
        (A,),
    ),
    "outer_ravel": (lambda a, b: ops.outer(ops.ravel(a), b), lambda a, b: np.outer(a.ravel(), b), (A, B)),
    "axes": (
        lambda a: ops.swapaxes(ops.moveaxis(ops.reshape(a, (3, 2, 2)), 0, -1), 0, 1),
        lambda a: np.swapaxes(np.moveaxis(a.reshape(3, 2, 2), 0, -1), 0, 1),
        (A,),
    ),
    "tile": (lambda a: ops.tile(a, (2, 1, 3)), lambda a: np.tile(a, (2, 1, 3)), (A,)),
    "split": (
        lambda a: ops.concatenate([*ops.split(a, 2, axis=1)[::-1], *ops.split(a, [1, 3], axis=1)], axis=1),
        lambda a: np.concatenate([*np.split(a, 2, axis=1)[::-1], *np.split(a, [1, 3], axis=1)], axis=1),
        (A,),
    ),
    "operators": (lambda a, b: (a + b) * a - b / 2.0, lambda a, b: (a + b) * a - b / 2.0, (A, B)),
    "matmul_operator": (lambda a, m: a @ m, lambda a, m: a @ m, (A, M)),
    "slices": (lambda a: a[:, 1:3] + a[1:2, :2], lambda a: a[:, 1:3] + a[1:2, :2], (A,)),
    "ellipsis_and_newaxis": (
        lambda a: a[..., -1][:, None] * a[None, 1],
        lambda a: a[..., -1][:, None] * a[None, 1],
        (A,),
    ),
    "more_operators": (
        lambda a, p: abs(a) ** 2.0 + 2.0**a - (a % 0.7) * (p // 0.5) + a.T.T,
        lambda a, p: abs(a) ** 2.0 + 2.0**a - (a % 0.7) * (p // 0.5) + a.T.T,
        (A, P),
    ),
    "matmul_array_on_the_left": (lambda a: M.T @ a.T, lambda a: M.T @ a.T, (A,)),
    "flip_roll": (
        lambda a: ops.flip(a, 1) + ops.flip(a) + ops.roll(a, (2, -1), axis=(0, 1)) + ops.roll(a, 5),
        lambda a: np.flip(a, 1) + np.flip(a) + np.roll(a, (2, -1), axis=(0, 1)) + np.roll(a, 5),
        (A,),
    ),
    "cumsum_cumprod": (
        lambda a: (
            ops.cumsum(a, axis=1)
            + ops.cumsum(a, axis=0)
            + ops.reshape(ops.cumsum(a), (3, 4))
            + ops.cumprod(a, -1)
        ),
        lambda a: np.cumsum(a, 1) + np.cumsum(a, 0) + np.cumsum(a).reshape(3, 4) + np.cumprod(a, -1),
        (A,),
    ),
    "triangles": (
        lambda a: ops.tril(a) + 2.0 * ops.triu(a, 1) + 3.0 * ops.tril(a, -1) + ops.tri(3, 4, 1),
        lambda a: np.tril(a) + 2.0 * np.triu(a, 1) + 3.0 * np.tril(a, -1) + np.tri(3, 4, 1),
        (A,),
    ),
    "diagonals": (
        lambda a, b: (
            ops.concatenate([ops.diagonal(a, 1), ops.diagonal(a, -1), ops.diag(a), ops.diag(b, -1)[2]])
            + ops.trace(a)
        ),
        lambda a, b: (
            np.concatenate([np.diagonal(a, 1), np.diagonal(a, -1), np.diag(a), np.diag(b, -1)[2]])
            + np.trace(a)
        ),
        (A, B),
    ),
    "diagonal_of_planes": (
        lambda t: ops.diagonal(t, 1, 0, 2) + ops.trace(t, 0, 2, 1)[None],
        lambda t: np.diagonal(t, 1, 0, 2) + np.trace(t, 0, 2, 1)[None],
        (T,),
    ),
    "batch_matmul": (
        lambda t, u: ops.matmul(t, u) + t @ u + ops.matmul(t, ops.transpose(t, (0, 2, 1)))[..., :1],
        lambda t, u: t @ u + t @ u + (t @ t.transpose(0, 2, 1))[..., :1],
        (T, T.transpose(0, 2, 1) * 2.0),
    ),
    "tensordot": (
        lambda t, m: ops.tensordot(t, m, axes=1) + ops.tensordot(t, t, axes=([0, 1], [0, 1]))[0, 0],
        lambda t, m: np.tensordot(t, m, 1) + np.tensordot(t, t, ([0, 1], [0, 1]))[0, 0],
        (T, M),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_eager_matches_numpy(name):
    fn, reference, inputs = CASES[name]
    result = fn(*inputs)
    expected = reference(*inputs)
    assert np.shape(result) == np.shape(expected)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_traced_and_compiled_matches_numpy(name):
    fn, reference, inputs = CASES[name]
    result = kgraph.function(fn)(*inputs)
    np.testing.assert_allclose(result, reference(*inputs), rtol=1e-5, atol=1e-6)


def test_eager_indices_are_int32_as_in_keras():
    assert ops.argmax(A).dtype == np.int32 and ops.argmin(A, axis=0).dtype == np.int32


def test_argmax_across_the_batch_axis_in_a_compiled_model():
    """An index per column over the rows of a batch: not a loop reduction, its own N-d kernel."""

    class ColumnArgmax(kgraph.layers.Layer):
        def call(self, x):
            return ops.expand_dims(ops.argmax(x, axis=0), 0) + 0.0 * x

    inputs = kgraph.Input((4,))
    model = kgraph.Model(inputs, ColumnArgmax()(inputs))
    x = rng.normal(size=(10, 4)).astype(np.float32)
    x[7, 2] = x[3, 2] = x[:, 2].max() + 1.0  # a tie: the first index wins, as in numpy
    np.testing.assert_array_equal(model.predict(x, batch_size=10, verbose=0)[0], x.argmax(0))


def test_indexing_errors_say_what_is_supported():
    traced = kgraph.function(lambda a: a[5])
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 3"):
        traced(A)
    with pytest.raises(IndexError, match="step-1 slices"):
        kgraph.function(lambda a: a[:, ::2])(A)


def test_axis_functions_keep_infinities_and_nans_where_numpy_does():
    x = A.copy()
    x[0, 3], x[2, 0] = np.inf, np.nan  # above and below the diagonal
    for fn in (ops.tril, ops.triu, ops.diagonal, lambda a: ops.roll(ops.flip(a, 0), 1, axis=1)):
        np.testing.assert_array_equal(kgraph.function(fn)(x), fn(x))


def test_axis_functions_along_the_batch_axis_of_a_layer_say_why_they_cannot():
    inputs = kgraph.Input((4, 3))
    for fn in (lambda t: ops.cumsum(t, axis=0), lambda t: ops.flip(t, 0), lambda t: ops.roll(t, 1)):
        with pytest.raises(ValueError, match="batch axis"):
            kgraph.layers.Lambda(fn)(inputs)
    outputs = kgraph.layers.Lambda(lambda t: ops.cumsum(ops.flip(t, 1), axis=1) + ops.roll(t, 1, axis=-1))(
        inputs
    )
    x = rng.normal(size=(5, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(
        kgraph.Model(inputs, outputs).predict(x, verbose=0),
        np.cumsum(np.flip(x, 1), 1) + np.roll(x, 1, -1),
        rtol=1e-5,
        atol=1e-6,
    )

"""Every primitive op: shape rule, numpy reference, and gradient rule against central finite differences.

The reference is evaluated in float64 so that differences of 1e-6 are meaningful; the tolerance on gradients
is rtol 1e-5 / atol 1e-6.
"""

import numpy as np
import pytest

from kgraph.ir import Graph, Sym, all_ops, emit
from kgraph.passes.autodiff import gradients
from kgraph.runtime.interpreter import Context, evaluate

RNG = np.random.default_rng(0)


def _positive(shape):
    return RNG.uniform(0.5, 2.0, shape)


def _any(shape):
    return RNG.normal(size=shape)


def _lstm_scan_case():
    """An LSTM scan's outputs with a mask: its inputs, the stash (its saved residual) first."""
    from kgraph.ir.ops.recurrent import _scan_reference

    attrs = {
        "cell": "lstm",
        "units": 2,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "go_backwards": False,
        "reset_after": False,
        "zero_output": False,
    }
    mask = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    operands = [
        _any((2, 3, 8)),
        _any((2, 8)),
        _any((8,)),
        mask,
        _positive((2, 2)),
        _any((2, 2)),
        _any((2, 2)),
    ]
    return [_scan_reference(operands, attrs), *operands], attrs


# op -> (input makers, attrs); inputs are variables so the gradient flows to each of them.
CASES = {
    "add": ([_any((3, 4)), _any((4,))], {}),
    "sub": ([_any((3, 4)), _any((3, 1))], {}),
    "mul": ([_any((3, 4)), _any((3, 4))], {}),
    "div": ([_any((3, 4)), _positive((4,))], {}),
    "pow": ([_positive((3, 4)), _any((3, 4))], {}),
    "maximum": ([_any((3, 4)), _any((3, 4))], {}),
    "minimum": ([_any((3, 4)), _any((4,))], {}),
    "where": ([np.array([[1.0, 0, 1, 0]] * 3), _any((3, 4)), _any((3, 4))], {}),
    "clip": ([_any((3, 4))], {"lo": -0.5, "hi": 0.5}),
    "identity": ([_any((3, 4))], {}),
    "neg": ([_any((3, 4))], {}),
    "exp": ([_any((3, 4))], {}),
    "log": ([_positive((3, 4))], {}),
    "log1p": ([_positive((3, 4))], {}),
    "expm1": ([_any((3, 4))], {}),
    "sqrt": ([_positive((3, 4))], {}),
    "square": ([_any((3, 4))], {}),
    "abs": ([_any((3, 4))], {}),
    "cos": ([_any((3, 4))], {}),
    "sin": ([_any((3, 4))], {}),
    "erf": ([_any((3, 4))], {}),
    "relu": ([_any((3, 4))], {}),
    "sigmoid": ([_any((3, 4))], {}),
    "tanh": ([_any((3, 4))], {}),
    "softplus": ([_any((3, 4)) * 5], {}),
    "sum": ([_any((3, 4, 2))], {"axes": (0, 2), "keepdims": False}),
    "max": ([_any((3, 4))], {"axes": (1,), "keepdims": True}),
    "min": ([_any((3, 4))], {"axes": (0,), "keepdims": False}),
    "matmul": ([_any((3, 4)), _any((4, 5))], {}),
    "batch_matmul": ([_any((2, 3, 4)), _any((2, 4, 5))], {}),
    "reshape": ([_any((3, 4))], {"shape": (2, 6)}),
    "transpose": ([_any((3, 4, 2))], {"perm": (2, 0, 1)}),
    "concat": ([_any((3, 4)), _any((3, 2))], {"axis": 1}),
    "slice": ([_any((3, 6))], {"axis": 1, "start": 1, "stop": 4}),
    "broadcast_to": ([_any((1, 4))], {"shape": (3, 4)}),
    "take": ([_any((5, 3)), np.array([[0.0, 4.0], [2.0, 2.0]])], {}),
    "scatter_add": ([_any((2, 2, 3)), np.array([[0.0, 4.0], [2.0, 2.0]])], {"rows": 5}),
    "rnn_outputs": _lstm_scan_case(),
    "patches": (
        [_any((2, 5, 4, 2))],
        {"window": (3, 2), "strides": (2, 1), "dilation": (1, 2), "padding": ((1, 1), (1, 0))},
    ),
    "patches_grad": (
        [_any((2, 3, 3, 12))],
        {
            "window": (3, 2),
            "strides": (2, 1),
            "dilation": (1, 2),
            "padding": ((1, 1), (1, 0)),
            "spatial": (5, 4),
        },
    ),
    "max_pool": ([_any((2, 5, 3))], {"window": (2,), "strides": (2,), "padding": ((0, 1),)}),
    "avg_pool": ([_any((2, 5, 4, 2))], {"window": (2, 3), "strides": (2, 1), "padding": ((0, 1), (1, 1))}),
    "avg_pool_grad": (
        [_any((2, 3, 4, 2))],
        {"window": (2, 3), "strides": (2, 1), "padding": ((0, 1), (1, 1)), "spatial": (5, 4)},
    ),
}
MATMUL_TRANSPOSES = [(False, True), (True, False), (True, True)]


def test_matmul_over_leading_axes_and_its_gradient():
    _check_gradient("matmul", [_any((2, 3, 4)), _any((4, 5))], {})
    _check_gradient("matmul", [_any((2, 3, 4)), _any((2, 3, 5))], {"transpose_a": True})
    _check_gradient("matmul", [_any((2, 3, 4)), _any((5, 4))], {"transpose_b": True})


NO_GRADIENT = {
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "equal",
    "sign",
    "floor",
    "cast",
    "stop_gradient",
    "argmax",
    "argmin",
    "input",
    "variable",
    "const",
    "batch_size",
    "iota",
    "random_uniform",
    "assign",
    "max_pool_grad",  # second derivatives of max pooling are not needed by any training step
    "rnn_scan",  # the forward scan's stash has no gradient: rnn_outputs carries the scan's gradient rule
    "rnn_scan_grad",  # the backward scans and the recurrent kernel's gradient: no second derivatives
    "rnn_state_grad",
    "rnn_kernel_grad",
}


def _check_gradient(op, values, attrs):
    graph = Graph()
    variables = [Sym(graph, graph.add("variable", key=f"v{i}", shape=v.shape)) for i, v in enumerate(values)]
    out = emit(op, *variables, **attrs)
    # A fixed random projection makes the scalar target sensitive to every output element.
    weights = RNG.normal(size=out.shape)
    target = emit("sum", out * weights, axes=tuple(range(out.ndim)))
    grads = gradients(graph, target.id, [v.id for v in variables])
    ctx = Context(
        variables={f"v{i}": np.array(v, dtype=np.float64) for i, v in enumerate(values)}, batch_size=1
    )
    analytic = evaluate(graph, ctx, [g for g in grads.values() if g is not None])
    for i, v in enumerate(variables):
        if grads[v.id] is None or (op == "where" and i == 0):
            continue
        value = ctx.variables[f"v{i}"]
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            old = value[index]
            value[index] = old + 1e-6
            plus = evaluate(graph, ctx, [target.id])[target.id]
            value[index] = old - 1e-6
            minus = evaluate(graph, ctx, [target.id])[target.id]
            value[index] = old
            numeric[index] = (plus - minus) / 2e-6
        np.testing.assert_allclose(
            analytic[grads[v.id]],
            numeric,
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"gradient of {op} with respect to input {i}",
        )


@pytest.mark.parametrize("op", sorted(CASES))
def test_gradient_matches_finite_differences(op):
    values, attrs = CASES[op]
    _check_gradient(op, values, attrs)


@pytest.mark.parametrize("transpose_a,transpose_b", MATMUL_TRANSPOSES)
def test_matmul_gradient_with_transposes(transpose_a, transpose_b):
    a = _any((4, 3)) if transpose_a else _any((3, 4))
    b = _any((5, 4)) if transpose_b else _any((4, 5))
    _check_gradient("matmul", [a, b], {"transpose_a": transpose_a, "transpose_b": transpose_b})


@pytest.mark.parametrize(("transpose_a", "transpose_b"), [(True, False), (False, True), (True, True)])
def test_batch_matmul_gradient_with_transposes(transpose_a, transpose_b):
    a = _any((2, 4, 3)) if transpose_a else _any((2, 3, 4))
    b = _any((2, 5, 4)) if transpose_b else _any((2, 4, 5))
    _check_gradient("batch_matmul", [a, b], {"transpose_a": transpose_a, "transpose_b": transpose_b})


def test_every_differentiable_op_has_a_case():
    differentiable = {name for name, op in all_ops().items() if name not in NO_GRADIENT}
    assert differentiable <= set(CASES), sorted(differentiable - set(CASES))


@pytest.mark.parametrize("op", sorted(n for n in CASES if all_ops()[n].scalar is not None))
def test_scalar_form_matches_reference(op):
    """The expression fused loops inline agrees with the numpy reference (elementwise ops)."""
    import math  # noqa: F401 - used by the evaluated expressions

    from numpy import float32 as f32  # noqa: F401

    from kgraph.codegen.scalar_math import exp32, log32

    values, attrs = CASES[op]
    opdef = all_ops()[op]
    expected = opdef.reference([np.asarray(v, np.float32) for v in values], attrs, None)
    arrays = [np.broadcast_to(np.asarray(v, np.float32), expected.shape) for v in values]
    names = [f"x{i}" for i in range(len(arrays))]
    expression = opdef.scalar(names, attrs)
    got = np.empty(expected.shape, np.float32)
    for index in np.ndindex(expected.shape):
        env = {name: np.float32(a[index]) for name, a in zip(names, arrays, strict=True)}
        scope = {"math": math, "np": np, "f32": np.float32, "exp32": exp32, "log32": log32}
        got[index] = eval(expression, scope, env)  # noqa: S307
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_shape_rule_names_the_layer():
    graph = Graph()
    a = Sym(graph, graph.add("variable", key="a", shape=(3, 4)))
    b = Sym(graph, graph.add("variable", key="b", shape=(5, 6)))
    with pytest.raises(ValueError, match="layer 'dense_7'.*matmul inner dimensions"):
        graph.add("matmul", [a.id, b.id], origin="dense_7")
    with pytest.raises(ValueError, match="not broadcast-compatible"):
        emit("add", a, b)

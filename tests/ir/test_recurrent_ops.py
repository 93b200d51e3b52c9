"""The recurrent scan ops for every cell: gradients of the numpy definitions against finite differences
(masks, recurrent dropout masks, go_backwards, zero outputs at masked steps, initial states), and the CPU
kernels against the numpy definitions."""

import numpy as np
import pytest

from kgraph.ir import Graph, Sym, emit
from kgraph.ir.ops.recurrent import layout
from kgraph.passes.autodiff import gradients
from kgraph.runtime.interpreter import Context, evaluate
from kgraph.testing import run_traced

CELLS = [("simple", False), ("lstm", False), ("gru", True), ("gru", False)]


def _case(cell, reset_after, backwards, activation="tanh", recurrent="sigmoid", batch=3, steps=4, units=2):
    rng = np.random.default_rng(0)
    attrs = {
        "cell": cell,
        "units": units,
        "activation": activation,
        "recurrent_activation": recurrent,
        "go_backwards": backwards,
        "reset_after": reset_after,
        "zero_output": backwards,
        "time_order": backwards and activation == "tanh",
    }
    lay = layout(attrs)
    width = lay.gates * units
    operands = [
        rng.normal(size=(batch, steps, width)),
        rng.normal(size=(units, width)) * 0.5,
        rng.normal(size=(width,)) * 0.3,
        (rng.uniform(size=(batch, steps)) > 0.3).astype(float),
        rng.uniform(0.5, 1.5, size=(batch, units)),
        *(rng.normal(size=(batch, units)) for _ in range(lay.states)),
    ]
    return attrs, operands


@pytest.mark.parametrize("cell,reset_after", CELLS)
@pytest.mark.parametrize("backwards", [False, True])
def test_scan_gradient_matches_finite_differences(cell, reset_after, backwards):
    attrs, values = _case(cell, reset_after, backwards)
    graph = Graph()
    variables = [Sym(graph, graph.add("variable", key=f"v{i}", shape=v.shape)) for i, v in enumerate(values)]
    stash = emit("rnn_scan", *variables, **attrs)
    out = emit("rnn_outputs", stash, *variables, **attrs)
    weights = np.random.default_rng(1).normal(size=out.shape)
    target = emit("sum", out * weights, axes=tuple(range(out.ndim)))
    grads = gradients(graph, target.id, [v.id for v in variables])
    ctx = Context(variables={f"v{i}": np.array(v, np.float64) for i, v in enumerate(values)}, batch_size=1)
    analytic = evaluate(graph, ctx, [g for g in grads.values() if g is not None])
    for i, v in enumerate(variables):
        if grads[v.id] is None:
            continue
        value, numeric = ctx.variables[f"v{i}"], np.zeros_like(values[i])
        for index in np.ndindex(value.shape):
            old = value[index]
            value[index] = old + 1e-6
            plus = evaluate(graph, ctx, [target.id])[target.id]
            value[index] = old - 1e-6
            minus = evaluate(graph, ctx, [target.id])[target.id]
            value[index] = old
            numeric[index] = (plus - minus) / 2e-6
        np.testing.assert_allclose(analytic[grads[v.id]], numeric, rtol=1e-5, atol=1e-6, err_msg=f"input {i}")


@pytest.mark.parametrize("cell,reset_after", CELLS)
@pytest.mark.parametrize("activations", [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_cpu_kernels_match_numpy(cell, reset_after, activations):
    attrs, values = _case(
        cell, reset_after, activations[0] == "tanh", *activations, batch=5, steps=6, units=3
    )
    xp, U, brec, mask, rmask, *states = [np.asarray(v, np.float32) for v in values]
    g = np.random.default_rng(1).normal(size=(5, 6 + len(states), 3)).astype(np.float32)

    def program(xp, mask, rmask, g, *states):
        operands = (U, brec, mask, rmask, *states)
        stash = emit("rnn_scan", xp, *operands, **attrs)
        d = emit("rnn_scan_grad", g, stash, *operands, **attrs)
        return (
            emit("rnn_outputs", stash, xp, *operands, **attrs),
            d,
            emit("rnn_state_grad", g, stash, *operands, **attrs),
            emit("rnn_kernel_grad", stash, d, **attrs),
        )

    expected = run_traced(program, xp, mask, rmask, g, *states, backend="numpy")
    got = run_traced(program, xp, mask, rmask, g, *states, backend="cpu")
    for name, e, o in zip(("outputs", "scan_grad", "state_grad", "kernel_grad"), expected, got, strict=True):
        np.testing.assert_allclose(o, e, rtol=1e-5, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("backwards", [False, True])
def test_projected_scan_kernel_matches_numpy(backwards):
    """A scan that computes its projection `x @ kernel` itself (passes/projection.py), a chunk of steps at
    a time on a second thread: 11 steps (chunks of 8 and 3), against the numpy definition, which is the
    plain scan of the projection."""
    attrs, values = _case("lstm", False, backwards, batch=2, steps=11, units=3)
    _, U, brec, mask, rmask, *states = [np.asarray(v, np.float32) for v in values]
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 11, 5)).astype(np.float32)
    kernel = (rng.normal(size=(5, 12)) * 0.5).astype(np.float32)

    def program(x, mask, rmask, *states):
        operands = (U, brec, mask, rmask, *states, kernel)
        stash = emit("rnn_scan", x, *operands, **attrs, projected=True)
        return emit("rnn_outputs", stash, x, *operands, **attrs, projected=True)

    def plain(xp, mask, rmask, *states):
        operands = (U, brec, mask, rmask, *states)
        return emit("rnn_outputs", emit("rnn_scan", xp, *operands, **attrs), xp, *operands, **attrs)

    expected = run_traced(plain, x @ kernel, mask, rmask, *states, backend="numpy")
    np.testing.assert_allclose(
        run_traced(program, x, mask, rmask, *states, backend="numpy"), expected, rtol=1e-6
    )
    got = run_traced(program, x, mask, rmask, *states, backend="cpu")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2e-6)


def test_projected_scan_checks_its_kernel():
    attrs, values = _case("lstm", False, False)
    graph = Graph()
    x = Sym(graph, graph.add("input", name="x", shape=(None, 4, 5)))
    operands = [Sym(graph, graph.add("variable", key=f"v{i}", shape=v.shape)) for i, v in enumerate(values)]
    kernel = Sym(graph, graph.add("variable", key="k", shape=(4, 8)))
    with pytest.raises(ValueError, match=r"input kernel should have shape \(5, 8\).*received \(4, 8\)"):
        emit("rnn_scan", x, *operands[1:], kernel, **attrs, projected=True)

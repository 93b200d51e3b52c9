"""Checks shared by the layer tests: gradients against finite differences, and forward parity with Keras 3."""

from __future__ import annotations

import numpy as np

from kgraph.ir import Graph, Sym, tracing
from kgraph.passes.autodiff import gradients
from kgraph.runtime.interpreter import Context, evaluate


def check_layer_gradients(layer, inputs, call_kwargs=None, rtol=1e-5, atol=1e-6, step=1e-6):
    """The gradients of `sum(layer(inputs) * R)` (R a fixed random projection) with respect to every input and
    trainable weight agree with central finite differences, all evaluated in float64 by the interpreter.

    `inputs` is an array or a list of arrays (a merge layer); they take the place of variables so that the
    gradient flows to them.
    """
    arrays = [np.asarray(a, np.float64) for a in (inputs if isinstance(inputs, list) else [inputs])]
    graph = Graph()
    with tracing(graph):
        syms = [
            Sym(graph, graph.add("variable", key=f"input{i}", shape=a.shape)) for i, a in enumerate(arrays)
        ]
        out = layer(syms if isinstance(inputs, list) else syms[0], **(call_kwargs or {}))
        projection = np.random.default_rng(7).normal(size=out.shape)
        from kgraph import ops

        target = ops.sum(ops.multiply(out, projection))
    nodes = graph.nx.graph.get("variable_nodes", {})
    weights = {w.key: nodes[w.key] for w in layer.trainable_weights if w.key in nodes}
    sources = {**{f"input{i}": s.id for i, s in enumerate(syms)}, **weights}
    grads = gradients(graph, target.id, list(sources.values()))
    values = {f"input{i}": a for i, a in enumerate(arrays)}
    values.update({w.key: w.numpy().astype(np.float64) for w in layer.weights})
    ctx = Context(variables=values, batch_size=arrays[0].shape[0])
    analytic = evaluate(graph, ctx, [g for g in grads.values() if g is not None])
    checked = 0
    for key, node in sources.items():
        value = ctx.variables[key]
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            old = value[index]
            value[index] = old + step
            plus = evaluate(graph, ctx, [target.id])[target.id]
            value[index] = old - step
            minus = evaluate(graph, ctx, [target.id])[target.id]
            value[index] = old
            numeric[index] = (plus - minus) / (2 * step)
        got = analytic[grads[node]] if grads[node] is not None else np.zeros_like(value)
        np.testing.assert_allclose(got, numeric, rtol=rtol, atol=atol, err_msg=f"gradient wrt {key}")
        checked += 1
    return checked


def assert_matches_keras(layer, keras_layer, inputs, training=None, rtol=1e-4, atol=1e-5) -> np.ndarray:
    """Gives `layer` the weights of `keras_layer` and compares their outputs on `inputs` (an array or a list),
    both compiled (a traced call run by the CPU backend) and eager. The eager call runs last, so after a
    training call both layers hold statistics moved once. Returns Keras's output."""
    from kgraph.testing import run_traced

    listed = isinstance(inputs, list)
    kwargs = {} if training is None else {"training": training}
    keras_layer(inputs)  # builds; an inference call moves no statistics
    layer(inputs)
    layer.set_weights(keras_layer.get_weights())
    initial = layer.get_weights()
    expected = np.asarray(keras_layer(inputs, **kwargs))
    arrays = inputs if listed else [inputs]
    traced = run_traced(lambda *xs: layer(list(xs) if listed else xs[0], **kwargs), *arrays, backend="cpu")
    np.testing.assert_allclose(traced, expected, rtol=rtol, atol=atol, err_msg="compiled")
    layer.set_weights(initial)
    eager = np.asarray(layer(inputs, **kwargs))
    np.testing.assert_allclose(eager, expected, rtol=rtol, atol=atol, err_msg="eager")
    return expected

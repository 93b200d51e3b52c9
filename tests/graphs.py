"""Small IR graphs shared by the pass and code generator tests."""

import numpy as np

from kgraph import ops
from kgraph.ir import Graph, Sym, tracing
from kgraph.passes.autodiff import gradients
from kgraph.variables import Variable, order_writes_after_reads, variable_node


def input_node(graph, name, features):
    return Sym(graph, graph.add("input", name=name, shape=(None, features)))


def mlp_training_graph(sizes=(64, 64, 10), learning_rate=0.01, l2=0.0, seed=0):
    """Dense relu layers, softmax + categorical cross-entropy (Keras's clipped form), SGD updates in place.

    Returns (graph, variables, names of the data inputs).
    """
    rng = np.random.default_rng(seed)
    weights = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        weights += [
            Variable(rng.normal(0, 0.3, (a, b)), name=f"W{len(weights)}"),
            Variable(rng.normal(0, 0.1, (b,)), name=f"b{len(weights)}"),
        ]
    graph = Graph()
    with tracing(graph):
        x, y = input_node(graph, "x0", sizes[0]), input_node(graph, "y0", sizes[-1])
        h = x
        for i in range(0, len(weights), 2):
            z = ops.matmul(h, weights[i]) + weights[i + 1]
            h = ops.relu(z) if i + 2 < len(weights) else z
        p = ops.softmax(h)
        p = p / ops.sum(p, axis=-1, keepdims=True)
        p = ops.clip(p, 1e-7, 1 - 1e-7)
        loss = ops.mean(-ops.sum(y * ops.log(p), axis=-1))
        if l2:
            loss = loss + l2 * ops.sum(ops.square(weights[0]))
        graph.outputs["loss"] = loss.id
        graph.outputs["correct"] = ops.sum(ops.equal(ops.argmax(p, axis=-1), ops.argmax(y, axis=-1))).id
        grads = gradients(graph, loss.id, [variable_node(graph, w) for w in weights])
        for w, g in zip(weights, grads.values(), strict=True):
            w.assign(w - learning_rate * Sym(graph, g))
    order_writes_after_reads(graph)
    return graph, weights, ["x0", "y0"]

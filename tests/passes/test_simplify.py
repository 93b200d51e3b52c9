"""Structural tests of the simplify pass: a graph before, the graph expected after."""

from kgraph import ops
from kgraph.ir import Graph, tracing
from kgraph.ir.builder import as_sym
from kgraph.passes.simplify import simplify
from tests.graphs import input_node


def _ops(graph):
    return [n.op for n in graph.nodes()]


def test_identities_and_dead_code_are_removed():
    graph = Graph()
    with tracing(graph):
        x = input_node(graph, "x", 4)
        ops.exp(x)  # nothing reads it
        y = ops.stop_gradient(x) * 1.0 + 0.0
        graph.outputs["z"] = (y * 5.0).id
    after = simplify(graph)
    assert _ops(after) == ["input", "const", "mul"]
    assert "exp" in _ops(graph), "the input graph is left unchanged"


def test_common_subexpressions_are_merged():
    graph = Graph()
    with tracing(graph):
        x = input_node(graph, "x", 4)
        graph.outputs["a"] = (ops.exp(x) + ops.exp(x)).id
    assert _ops(simplify(graph)) == ["input", "exp", "add"]


def test_scalar_constants_fold():
    graph = Graph()
    with tracing(graph):
        x = input_node(graph, "x", 4)
        five = ops.sqrt(as_sym(16.0, graph)) + as_sym(1.0, graph)
        graph.outputs["y"] = (x * five).id
    after = simplify(graph)
    assert _ops(after) == ["input", "const", "mul"]
    const = next(n for n in after.nodes() if n.op == "const")
    assert const.attrs["value"] == 5.0


def test_random_numbers_are_never_merged():
    graph = Graph()
    with tracing(graph):
        x = input_node(graph, "x", 4)
        graph.outputs["y"] = (ops.random_uniform((None, 4)) + ops.random_uniform((None, 4)) + x).id
    assert _ops(simplify(graph)).count("random_uniform") == 2

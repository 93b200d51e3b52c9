"""Reverse-mode differentiation over the IR.

Walks the nodes between the variables and the loss in reverse topological order, asks each op's gradient
rule (written with IR ops) for its inputs' gradients, and sums contributions. The backward graph lands in the
same graph as the forward one, so later passes fuse and plan both together.
"""

from __future__ import annotations

import networkx as nx

from kgraph.ir.builder import Sym, emit, origin, tracing
from kgraph.ir.graph import Graph
from kgraph.ir.registry import get_op


def gradients(graph: Graph, target: int, sources: list[int]) -> dict[int, int | None]:
    """Adds the gradient of scalar `target` with respect to each of `sources` to `graph`.

    A non-scalar target is summed first, as TensorFlow's tape does. Returns the node computing each source's
    gradient, or None when the target does not depend on that source.
    """
    if graph.type(target).rank:
        target = emit("sum", Sym(graph, target), axes=tuple(range(graph.type(target).rank))).id
    downstream = set(sources)
    for s in sources:
        downstream |= nx.descendants(graph.nx, s)
    relevant = (nx.ancestors(graph.nx, target) | {target}) & downstream
    contributions: dict[int, list[Sym]] = {target: [_one(graph)]}
    for node in reversed(graph.nodes()):
        if node.id not in relevant or node.id not in contributions:
            continue
        grad = _total(contributions.pop(node.id))
        contributions[node.id] = [grad]
        opdef = get_op(node.op)
        if opdef.grad is None or not node.inputs:
            continue
        with tracing(graph), origin(f"{node.origin}/grad" if node.origin else "grad"):
            inputs = [Sym(graph, i) for i in node.inputs]
            input_grads = opdef.grad(inputs, Sym(graph, node.id), grad, node.attrs)
        for src, g in zip(node.inputs, input_grads, strict=True):
            if g is None or src not in relevant:
                continue
            if tuple(g.shape) != tuple(graph.type(src).shape):
                raise AssertionError(
                    f"gradient rule of {node.op} gave shape {g.shape} for input shaped "
                    f"{graph.type(src).shape}"
                )
            contributions.setdefault(src, []).append(g)
    return {s: contributions[s][0].id if s in contributions else None for s in sources}


def _one(graph: Graph) -> Sym:
    return Sym(graph, graph.add("const", value=1.0, shape=(), dtype="float32"))


def _total(terms: list[Sym]) -> Sym:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total

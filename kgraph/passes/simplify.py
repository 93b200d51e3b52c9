"""Simplification: algebraic identities, constant folding, common subexpressions, dead code.

Runs the rewrites to a fixed point. Each rewrite keeps the value's type, so the graph stays well typed.
"""

from __future__ import annotations

import numpy as np

from kgraph.ir.graph import Graph
from kgraph.ir.registry import get_op

# Each of these yields a new value every time it runs, so two of them are never one.
_NEVER_MERGE = {"random_uniform", "assign"}


def simplify(graph: Graph) -> Graph:
    """Returns a simplified copy of `graph`."""
    graph = graph.copy()
    changed = True
    while changed:
        changed = _rewrite_identities(graph) | _fold_constants(graph) | _merge_common(graph)
        changed |= remove_dead_code(graph)
    return graph


def remove_dead_code(graph: Graph) -> bool:
    """Deletes nodes whose values no output or effect reads (ordering edges alone keep nothing alive)."""
    live, stack = set(), list(graph.roots())
    while stack:
        node_id = stack.pop()
        if node_id not in live:
            live.add(node_id)
            stack.extend(graph.node(node_id).inputs)
    dead = [n for n in graph.nx.nodes if n not in live]
    graph.nx.remove_nodes_from(dead)
    return bool(dead)


def _scalar_const(graph: Graph, node_id: int):
    node = graph.node(node_id)
    if node.op == "const" and np.ndim(node.attrs["value"]) == 0:
        return float(node.attrs["value"])
    return None


def _rewrite_identities(graph: Graph) -> bool:
    changed = False
    for node in graph.nodes():
        replacement = None
        ins = node.inputs
        if (
            node.op in ("identity", "stop_gradient")
            or node.op in ("reshape", "broadcast_to")
            and graph.type(ins[0]).shape == node.type.shape
        ):
            replacement = ins[0]
        elif node.op == "reshape" and graph.node(ins[0]).op == "reshape":
            node.inputs = (graph.node(ins[0]).inputs[0],)
            graph.nx.add_edge(node.inputs[0], node.id, positions=[0])
            graph.nx.remove_edge(ins[0], node.id)
            changed = True
        elif node.op in ("mul", "add", "sub", "div"):
            neutral = 1.0 if node.op in ("mul", "div") else 0.0
            right = _scalar_const(graph, ins[1])
            left = _scalar_const(graph, ins[0]) if node.op in ("mul", "add") else None
            if right == neutral and graph.type(ins[0]) == node.type:
                replacement = ins[0]
            elif left == neutral and graph.type(ins[1]) == node.type:
                replacement = ins[1]
        if replacement is not None and node.id not in graph.effects:
            graph.replace_uses(node.id, replacement)
            changed = True
    return changed


def _fold_constants(graph: Graph) -> bool:
    """Evaluates scalar elementwise ops whose operands are all scalar constants."""
    changed = False
    for node in graph.nodes():
        if get_op(node.op).kind != "elementwise" or not node.inputs or node.type.rank:
            continue
        values = [_scalar_const(graph, i) for i in node.inputs]
        if any(v is None for v in values):
            continue
        args = [np.asarray(v, dtype=np.float32) for v in values]
        folded = float(get_op(node.op).reference(args, node.attrs, None))
        const = graph.add("const", value=folded, shape=(), dtype="float32")
        graph.replace_uses(node.id, const)
        changed = True
    return changed


def _key(node):
    def freeze(v):
        if isinstance(v, np.ndarray):
            return ("array", v.shape, v.tobytes())
        return v

    return (node.op, node.inputs, tuple(sorted((k, freeze(v)) for k, v in node.attrs.items())))


def _merge_common(graph: Graph) -> bool:
    seen: dict = {}
    changed = False
    for node in graph.nodes():
        if node.op in _NEVER_MERGE:
            continue
        key = _key(node)
        if key in seen and node.id not in graph.effects:
            graph.replace_uses(node.id, seen[key])
            changed = True
        else:
            seen.setdefault(key, node.id)
    return changed

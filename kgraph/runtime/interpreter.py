"""The reference backend: runs an IR graph node by node with each op's numpy definition.

Slow and obviously correct; the compiled backends are tested against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from kgraph.ir.graph import Graph
from kgraph.ir.registry import get_op


@dataclass
class Context:
    """What source ops read: data inputs by name, variable storage by key, the batch size, a random source."""

    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    variables: dict[str, np.ndarray] = field(default_factory=dict)
    batch_size: int = 0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))


def needed_nodes(graph: Graph, roots) -> list[int]:
    """Ids of the nodes the roots depend on, in the graph's deterministic topological order."""
    keep = set(roots)
    for root in roots:
        keep |= nx.ancestors(graph.nx, root)
    return [node.id for node in graph.nodes() if node.id in keep]


def evaluate(graph: Graph, ctx: Context, roots=None) -> dict[int, np.ndarray]:
    """Values of every node needed for `roots` (default: the graph's outputs and effects)."""
    values: dict[int, np.ndarray] = {}
    for node_id in needed_nodes(graph, graph.roots() if roots is None else roots):
        node = graph.node(node_id)
        args = [values[i] for i in node.inputs]
        values[node_id] = np.asarray(get_op(node.op).reference(args, node.attrs, ctx))
    return values


def run(graph: Graph, ctx: Context) -> dict[str, np.ndarray]:
    """Runs the program (effects included) and returns its named outputs."""
    values = evaluate(graph, ctx)
    return {name: values[node_id] for name, node_id in graph.outputs.items()}

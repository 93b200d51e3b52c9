"""The IR: a networkx DiGraph whose nodes are ops, each producing one typed value.

A node holds `op` (the registry name), `inputs` (argument order; edges mirror it for networkx algorithms),
`attrs` (op attributes), `type` (its TensorType) and `origin` (the layer it came from, for messages and kernel
names). Graph-level fields name what a program returns and which persistent variables it writes.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import networkx as nx

from kgraph.ir.types import TensorType


@dataclass
class Node:
    id: int
    op: str
    inputs: tuple[int, ...]
    attrs: dict
    type: TensorType
    origin: str = ""


@dataclass
class Graph:
    """A program over IR values.

    `outputs` maps names (`loss`, `y_pred_0`, `metric/accuracy/total`...) to the node computing them. Side
    effects (writes to variables) are `assign` nodes; they are roots kept alive by `effects`.
    """

    nx: nx.DiGraph = field(default_factory=nx.DiGraph)
    outputs: dict[str, int] = field(default_factory=dict)
    effects: list[int] = field(default_factory=list)
    fusion: object = None  # set by passes.fuse: the kernels and the reasons for fusions not taken
    memory: object = None  # set by passes.memory: the arena plan
    _ids: itertools.count = field(default_factory=itertools.count)

    def add(self, op: str, inputs=(), origin: str = "", **attrs) -> int:
        from kgraph.ir.registry import get_op

        opdef = get_op(op)
        inputs = tuple(inputs)
        in_types = [self.type(i) for i in inputs]
        out_type = opdef.infer(in_types, attrs, origin)
        node_id = next(self._ids)
        self.nx.add_node(node_id, node=Node(node_id, op, inputs, attrs, out_type, origin))
        for pos, src in enumerate(inputs):
            if self.nx.has_edge(src, node_id):
                self.nx.edges[src, node_id]["positions"].append(pos)
            else:
                self.nx.add_edge(src, node_id, positions=[pos])
        return node_id

    def node(self, node_id: int) -> Node:
        return self.nx.nodes[node_id]["node"]

    def type(self, node_id: int) -> TensorType:
        return self.node(node_id).type

    def nodes(self) -> list[Node]:
        """All nodes in a deterministic topological order (ties broken by id)."""
        return [self.node(i) for i in nx.lexicographical_topological_sort(self.nx)]

    def consumers(self, node_id: int) -> list[int]:
        return sorted(self.nx.successors(node_id))

    def roots(self) -> list[int]:
        return list(dict.fromkeys([*self.outputs.values(), *self.effects]))

    def add_control_edge(self, before: int, after: int) -> None:
        """Orders `before` ahead of `after` without passing a value (a variable's reads before its write)."""
        if not self.nx.has_edge(before, after):
            self.nx.add_edge(before, after, positions=[])

    def copy(self) -> Graph:
        copied = self.nx.copy()
        for _, data in copied.nodes(data=True):
            data["node"] = dataclasses.replace(data["node"], attrs=dict(data["node"].attrs))
        for _, _, data in copied.edges(data=True):
            data["positions"] = list(data["positions"])
        # Trace bookkeeping (variable nodes, writes, feeds) is per graph: a copy gets its own containers.
        copied.graph.update(
            {k: type(v)(v) if isinstance(v, dict | list) else v for k, v in self.nx.graph.items()}
        )
        g = Graph(copied, dict(self.outputs), list(self.effects), self.fusion, self.memory)
        g._ids = itertools.count(max(self.nx.nodes, default=-1) + 1)
        return g

    def replace_uses(self, old: int, new: int) -> None:
        """Points every consumer of `old` (and any output naming it) at `new`."""
        for consumer in list(self.nx.successors(old)):
            node = self.node(consumer)
            positions = self.nx.edges[old, consumer]["positions"]
            if positions:
                node.inputs = tuple(new if i == old else i for i in node.inputs)
                self.nx.add_edge(new, consumer, positions=[p for p, i in enumerate(node.inputs) if i == new])
            else:
                self.add_control_edge(new, consumer)
            self.nx.remove_edge(old, consumer)
        self.outputs = {k: new if v == old else v for k, v in self.outputs.items()}
        self.effects = [new if v == old else v for v in self.effects]

    def remove(self, node_id: int) -> None:
        self.nx.remove_node(node_id)

    def __str__(self) -> str:
        from kgraph.ir.printer import format_graph

        return format_graph(self)

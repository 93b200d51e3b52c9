"""The IR's text form: one line per node, `%3 = matmul(%1, %2) : f32[B,64]`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kgraph.ir.graph import Graph, Node

_HIDDEN_ATTRS = {"value"}


def _format_attr(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array{list(value.shape)}"
    if isinstance(value, tuple):
        return "(" + ",".join("B" if v is None else str(v) for v in value) + ")"
    return repr(value)


def format_node(node: Node) -> str:
    args = [f"%{i}" for i in node.inputs]
    if node.op == "const" and np.ndim(node.attrs["value"]) == 0:
        args.append(repr(float(node.attrs["value"])))
    args += [
        f"{k}={_format_attr(v)}"
        for k, v in sorted(node.attrs.items())
        if k not in _HIDDEN_ATTRS and not (node.op == "const" and k in ("shape", "dtype"))
    ]
    origin = f"  # {node.origin}" if node.origin else ""
    return f"%{node.id} = {node.op}({', '.join(args)}) : {node.type}{origin}"


def format_graph(graph: Graph) -> str:
    lines = [format_node(node) for node in graph.nodes()]
    lines += [f"return {name} = %{node_id}" for name, node_id in graph.outputs.items()]
    lines += [f"effect %{node_id}" for node_id in graph.effects]
    return "\n".join(lines)

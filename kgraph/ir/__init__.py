"""kgraph's intermediate representation: a networkx graph of primitive ops on typed values."""

from kgraph.ir import ops  # noqa: F401  (importing the op definitions registers them)
from kgraph.ir.builder import Sym, emit, origin, tracing
from kgraph.ir.graph import Graph, Node
from kgraph.ir.registry import OpDef, all_ops, get_op
from kgraph.ir.types import TensorType

__all__ = ["Graph", "Node", "OpDef", "Sym", "TensorType", "all_ops", "emit", "get_op", "origin", "tracing"]

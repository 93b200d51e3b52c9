"""Eager or traced: how a `kgraph.ops` function applies one IR op to its inputs.

Given numpy arrays (or variables outside a trace) an op runs its numpy reference and returns an array; given a
symbolic tensor (or a variable, or an array a gradient tape feeds, while a program is traced) it adds a node
to the graph being traced.
"""

from __future__ import annotations

import numpy as np

from kgraph.ir.builder import Sym, current_graph, emit
from kgraph.ir.registry import get_op


class EagerContext:
    batch_size = 0
    rng = np.random.default_rng()


def is_symbolic(values) -> bool:
    if any(isinstance(v, Sym) for v in values):
        return True
    # Variables (anything that lifts itself into a graph) are symbolic while a program is traced, and so are
    # arrays a gradient tape already feeds (those passed to `tape.watch`).
    graph = current_graph()
    if graph is None:
        return False
    fed = getattr(graph, "feed_node", None)
    return any(hasattr(v, "_as_sym") or (fed is not None and fed(v) is not None) for v in values)


def eager_array(x):
    if isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64, np.int32, np.int64):
        return x
    array = np.asarray(x)
    if array.dtype.kind in "iu":
        return array.astype(np.int32) if array.dtype != np.int64 else array
    return array.astype(np.float32)


def materialized(x):
    """A tensor a gradient tape already computed is, outside any trace, just its value."""
    values = getattr(x.graph, "values", None) if isinstance(x, Sym) else None  # a gradient tape's
    if values is not None and current_graph() is None and x.id in values:
        return x.numpy()
    return x


def apply_op(op: str, *inputs, **attrs):
    """The IR op `op` on `inputs`: added to the graph being traced when an input is symbolic, else computed
    with the op's numpy reference (float inputs as float32, integer inputs as int32)."""
    inputs = tuple(materialized(x) for x in inputs)
    if is_symbolic(inputs):
        return emit(op, *inputs, **attrs)
    arrays = [eager_array(x) for x in inputs]
    return np.asarray(get_op(op).reference(arrays, attrs, EagerContext))

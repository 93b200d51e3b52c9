"""Symbolic values: Python operators on `Sym` add nodes to the graph being traced.

Layers, losses, metrics and gradient rules are all written with these, so one definition serves both the
symbolic trace and (through `kgraph.ops`) eager numpy execution.
"""

from __future__ import annotations

import contextlib
import numbers
import threading

import numpy as np

from kgraph.ir.graph import Graph
from kgraph.ir.types import TensorType

_state = threading.local()


class Sym:
    """A symbolic tensor: one value of an IR graph."""

    __slots__ = ("graph", "id")
    __array_priority__ = 100  # numpy defers `ndarray + Sym` to Sym.__radd__

    def __init__(self, graph: Graph, node_id: int):
        self.graph = graph
        self.id = node_id

    @property
    def type(self) -> TensorType:
        return self.graph.type(self.id)

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.rank

    @property
    def op(self) -> str:
        return self.graph.node(self.id).op

    def __repr__(self) -> str:
        return f"<Sym %{self.id} {self.type}>"

    def __add__(self, other):
        return emit("add", self, other)

    def __radd__(self, other):
        return emit("add", other, self)

    def __sub__(self, other):
        return emit("sub", self, other)

    def __rsub__(self, other):
        return emit("sub", other, self)

    def __mul__(self, other):
        return emit("mul", self, other)

    def __rmul__(self, other):
        return emit("mul", other, self)

    def __truediv__(self, other):
        return emit("div", self, other)

    def __rtruediv__(self, other):
        return emit("div", other, self)

    def __pow__(self, other):
        return emit("pow", self, other)

    def __rpow__(self, other):
        return emit("pow", other, self)

    def __floordiv__(self, other):
        return emit("floor", emit("div", self, other))

    def __rfloordiv__(self, other):
        return emit("floor", emit("div", other, self))

    def __mod__(self, other):  # numpy's remainder: the sign of the divisor
        return emit("sub", self, emit("mul", self // other, other))

    def __rmod__(self, other):
        return emit("sub", other, emit("mul", other // self, self))

    def __neg__(self):
        return emit("neg", self)

    def __abs__(self):
        return emit("abs", self)

    def __matmul__(self, other):
        return emit(_matmul_op(self, other), self, other)

    def __rmatmul__(self, other):
        return emit(_matmul_op(other, self), other, self)

    @property
    def T(self):  # noqa: N802 - numpy's name
        return emit("transpose", self, perm=tuple(reversed(range(self.ndim))))

    def __gt__(self, other):
        return emit("greater", self, other)

    def __ge__(self, other):
        return emit("greater_equal", self, other)

    def __lt__(self, other):
        return emit("less", self, other)

    def __le__(self, other):
        return emit("less_equal", self, other)

    def __getitem__(self, index):
        """Basic indexing as numpy's: integers and step-1 slices on non-batch axes, `...` and `None`."""
        items = index if isinstance(index, tuple) else (index,)
        if any(item is Ellipsis for item in items):
            at = items.index(Ellipsis)
            spread = self.ndim - sum(item is not None for item in items) + 1
            items = items[:at] + (slice(None),) * spread + items[at + 1 :]
        if sum(item is not None for item in items) > self.ndim:
            raise IndexError(f"Too many indices {index!r} for a tensor of shape {self.shape}.")
        value, shape, axis = self, [], 0
        for item in items:
            if item is None:
                shape.append(1)
                continue
            size = self.shape[axis]
            if not (isinstance(item, slice) and item == slice(None)):
                if (
                    size is None
                    or not isinstance(item, int | slice)
                    or (isinstance(item, slice) and item.step not in (None, 1))
                ):
                    raise IndexError(
                        f"Unsupported index {item!r} on axis {axis} of a tensor of shape {self.shape}: "
                        "integers and step-1 slices of axes other than the batch, `...` and `None`."
                    )
                if isinstance(item, int) and not -size <= item < size:
                    raise IndexError(f"index {item} is out of bounds for axis {axis} with size {size}")
                whole = slice(item, item + 1 or None) if isinstance(item, int) else item
                start, stop, _ = whole.indices(size)
                value = emit("slice", value, axis=axis, start=start, stop=stop)
            if not isinstance(item, int):
                shape.append(value.shape[axis])
            axis += 1
        shape += value.shape[axis:]
        return value if tuple(shape) == tuple(value.shape) else emit("reshape", value, shape=tuple(shape))

    def numpy(self) -> np.ndarray:
        """The value computed for this tensor by the last `GradientTape.gradient` over its graph."""
        values = getattr(self.graph, "values", None)  # a gradient tape's (tape_trace.TapeGraph)
        if values is None or self.id not in values:
            raise ValueError("A symbolic tensor has a value only after GradientTape.gradient() ran its tape.")
        return values[self.id]

    def __float__(self) -> float:
        return float(self.numpy())

    def __bool__(self) -> bool:
        origin_name = self.graph.node(self.id).origin
        where = f" in layer '{origin_name}'" if origin_name else ""
        raise TypeError(
            f"A symbolic tensor{where} has no truth value while the program is traced: Python `if`, `while`, "
            "`and`/`or` on tensors cannot be compiled. Use kgraph.ops.where(condition, x, y), ops.maximum, "
            "ops.minimum or ops.clip instead."
        )

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.numpy(), dtype=dtype)

    __hash__ = object.__hash__


def _matmul_op(a, b) -> str:
    """`batch_matmul` for two stacks of matrices with the same leading axes (see `ops.matmul`), else
    `matmul`."""
    sa, sb = (tuple(x.shape) if isinstance(x, Sym) else np.shape(x) for x in (a, b))
    stacks = len(sa) >= 3 and len(sa) == len(sb) and sa[:-2] == sb[:-2]
    return "batch_matmul" if stacks else "matmul"


def current_graph() -> Graph | None:
    return getattr(_state, "graph", None)


def current_origin() -> str:
    return getattr(_state, "origin", "")


@contextlib.contextmanager
def tracing(graph: Graph):
    """Makes `graph` the target of constants and variables created while tracing."""
    previous = swap_graph(graph)
    try:
        yield graph
    finally:
        _state.graph = previous


def swap_graph(graph: Graph | None) -> Graph | None:
    """Makes `graph` the current one and returns the previous one: `tracing` without a context manager, for
    a GradientTape's `__enter__`/`__exit__`, which run at every step of a training loop."""
    previous = getattr(_state, "graph", None)
    _state.graph = graph
    return previous


@contextlib.contextmanager
def origin(name: str):
    """Tags every node emitted inside with the layer (or loss, metric) it comes from."""
    previous = current_origin()
    _state.origin = name
    try:
        yield
    finally:
        _state.origin = previous


def set_keras_mask(value, mask) -> None:
    """Records `mask` as the implicit Keras mask of the traced `value` (what Keras keeps as `_keras_mask`)."""
    if isinstance(value, Sym) and mask is not None:
        value.graph.nx.graph.setdefault("keras_masks", {})[value.id] = mask


def get_keras_mask(value):
    """The implicit Keras mask of a traced value (a 0/1 tensor), or None."""
    if not isinstance(value, Sym):
        return None
    return value.graph.nx.graph.get("keras_masks", {}).get(value.id)


def as_sym(value, graph: Graph) -> Sym:
    """Lifts Python numbers and numpy arrays to `const` nodes, and variables to `variable` nodes."""
    if isinstance(value, Sym):
        return value
    lift = getattr(value, "_as_sym", None)
    if lift is not None:
        return lift(graph)
    if isinstance(value, numbers.Number | np.number | bool):
        return Sym(graph, graph.add("const", value=float(value), shape=(), dtype="float32"))
    if isinstance(value, np.ndarray):
        feed = getattr(graph, "feed", None)
        if feed is not None:  # a gradient tape: arrays are the program's inputs, so its graph stays the same
            return feed(value)
        dtype = "int32" if value.dtype.kind in "iu" else "float32"
        return Sym(graph, graph.add("const", value=value.astype(dtype), shape=value.shape, dtype=dtype))
    raise TypeError(f"Cannot use {type(value).__name__} {value!r} as a tensor.")


def emit(op: str, *inputs, **attrs) -> Sym:
    """Adds `op(*inputs, **attrs)` to the graph of its symbolic inputs (or the graph being traced)."""
    graph = next((x.graph for x in inputs if isinstance(x, Sym)), None) or current_graph()
    if graph is None:
        raise RuntimeError(f"emit({op!r}) needs a symbolic input or an active trace.")
    syms = [as_sym(x, graph) for x in inputs]
    return Sym(graph, graph.add(op, [s.id for s in syms], origin=current_origin(), **attrs))

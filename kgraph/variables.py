"""Variables: named float32 state (weights, optimizer slots, metric accumulators).

Eagerly a variable is a numpy array; while a program is traced, reading it adds a `variable` node and
`assign`/`assign_add` add `assign` nodes, so the same layer, metric and optimizer code runs both ways. Once a
model is compiled, every variable's array is a view into one flat store that compiled code updates in
place.
"""

from __future__ import annotations

import itertools

import numpy as np

from kgraph.ir.builder import Sym, current_graph, current_origin, emit
from kgraph.ir.graph import Graph

_ids = itertools.count()
_moves = [0]  # how many times a variable moved into a store: stores check it before a run


def moves() -> int:
    """A counter that changes whenever some variable moves to another store (see `VariableStore.claim`)."""
    return _moves[0]


_weight_lists = [0]  # bumped by anything that can change which weights a layer lists (see Layer.weights)


def weight_lists_version() -> int:
    return _weight_lists[0]


def weight_lists_changed() -> None:
    _weight_lists[0] += 1


class Variable:
    """A named array that persists across steps.

    Args:
        initializer: an initial value (array-like), or an initializer (name, instance or callable) used with
            `shape`.
        shape: the shape, required with an initializer.
        dtype: only float32 is supported.
        trainable: whether optimizers update it.
        name: the variable's name (its path is set by the layer that owns it).
    """

    __array_priority__ = 100  # numpy defers `ndarray * variable` to the variable (traced in a tape)
    #: Holds whole numbers that weight files store as integers (Keras's int variables: Normalization's count).
    integer_valued = False

    def __init__(
        self, initializer=None, shape=None, dtype=None, trainable: bool = True, name: str | None = None
    ):
        if dtype not in (None, "float32", np.float32):
            raise ValueError(
                f"Variable '{name}': only float32 variables are supported, received dtype={dtype!r}."
            )
        if isinstance(initializer, str) or (
            callable(initializer) and not isinstance(initializer, np.ndarray)
        ):
            from kgraph import initializers

            if shape is None:
                raise ValueError(f"Variable '{name}': an initializer needs a `shape`.")
            value = initializers.get(initializer)(tuple(shape), dtype="float32")
        else:
            value = np.asarray(initializer if initializer is not None else 0.0, dtype=np.float32)
            if shape is not None and tuple(shape) != value.shape:
                value = np.broadcast_to(value, tuple(shape))
        self._value = np.array(value, dtype=np.float32, order="C")
        self.key = f"var{next(_ids)}"
        self.name = name or self.key
        self.path = self.name
        self.trainable = trainable

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        weight_lists_changed()

    # --- eager state -------------------------------------------------------------------------------
    @property
    def value(self) -> np.ndarray:
        return self._value

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> str:
        return "float32"

    @property
    def ndim(self) -> int:
        return self._value.ndim

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def _rebind(self, view: np.ndarray) -> None:
        """Moves the value into `view` (a slice of a store) and keeps it there."""
        view[...] = self._value
        self._value = view
        _moves[0] += 1

    # --- assignment, eager or traced ---------------------------------------------------------------
    def assign(self, value):
        if isinstance(value, Sym) or current_graph() is not None:
            return self._assign_traced(value)
        value = np.asarray(value, dtype=np.float32)
        if value.shape != self.shape and np.broadcast_shapes(value.shape, self.shape) != self.shape:
            raise ValueError(
                f"Cannot assign a value of shape {value.shape} to variable '{self.path}' of shape "
                f"{self.shape}."
            )
        self._value[...] = value
        return self

    def assign_add(self, delta):
        return self.assign(self._read() + delta)

    def assign_sub(self, delta):
        return self.assign(self._read() - delta)

    def _read(self):
        graph = current_graph()
        return self._as_sym(graph) if graph is not None else self._value

    def _assign_traced(self, value):
        graph = current_graph()
        target = variable_node(graph, self)
        value = emit("broadcast_to", value, shape=self.shape) if _shape_of(value) != self.shape else value
        node = graph.add("assign", [target, value.id], origin=current_origin(), key=self.key)
        state = graph.nx.graph.setdefault("assigned", {})
        if self.key in state:  # a later write to the same variable supersedes the earlier one
            graph.effects.remove(state[self.key][0])
        state[self.key] = (node, value)
        graph.effects.append(node)
        return Sym(graph, node)

    # --- tracing -----------------------------------------------------------------------------------
    def _as_sym(self, graph: Graph) -> Sym:
        assigned = graph.nx.graph.get("assigned", {}).get(self.key)
        if assigned is not None:
            return assigned[1]  # reads after a write in the same trace see the written value
        return Sym(graph, variable_node(graph, self))

    # --- numpy-like behaviour ----------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        return self._value if dtype is None else self._value.astype(dtype)

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype=float32, value={self._value}>"

    def __getitem__(self, index):
        return self._read()[index]  # traced, a slice of the variable (a constant would freeze its value)

    def __float__(self) -> float:
        return float(self._value)

    def __int__(self) -> int:
        return int(self._value)


def variable_node(graph: Graph, variable: Variable) -> int:
    """The graph's node reading `variable` (one per variable per graph)."""
    nodes = graph.nx.graph.setdefault("variable_nodes", {})
    if variable.key not in nodes:
        nodes[variable.key] = graph.add(
            "variable", key=variable.key, shape=variable.shape, dtype="float32", name=variable.path
        )
        graph.nx.graph.setdefault("variable_objects", {})[variable.key] = variable
    return nodes[variable.key]


def order_writes_after_reads(graph: Graph) -> None:
    """Adds ordering edges so every read of a variable's old value runs before the write to it, and writes to
    overlapping variables (a region and its members) run in trace order."""
    import networkx as nx

    nodes = graph.nx.graph.get("variable_nodes", {})
    for i, earlier in enumerate(graph.effects):  # overlapping writes land in the order they were traced
        for later in graph.effects[i + 1 :]:
            a, b = graph.node(earlier).attrs["key"], graph.node(later).attrs["key"]
            if a == b or _overlaps(graph, a, b):
                graph.add_control_edge(earlier, later)
    for assign in graph.effects:
        key = graph.node(assign).attrs["key"]
        downstream = nx.descendants(graph.nx, assign)
        # A write to a flat view (a whole parameter region) must follow reads of the variables inside it.
        for other_key, read in nodes.items():
            if other_key != key and not _overlaps(graph, key, other_key):
                continue
            for reader in graph.consumers(read):
                if reader != assign and reader not in downstream:
                    graph.add_control_edge(reader, assign)


def _overlaps(graph: Graph, written: str, read: str) -> bool:
    """Whether writing variable `written` changes what reading `read` sees (a region and its members)."""
    regions = graph.nx.graph.get("overlaps", {})
    return read in regions.get(written, ()) or written in regions.get(read, ())


def _shape_of(value) -> tuple:
    return tuple(value.shape) if hasattr(value, "shape") else ()


def _operator(op_name: str, reverse: bool = False):
    def method(self, other):
        from kgraph import ops

        fn = getattr(ops, op_name)
        return fn(other, self) if reverse else fn(self, other)

    return method


for _name, _op in [
    ("add", "add"),
    ("sub", "subtract"),
    ("mul", "multiply"),
    ("truediv", "divide"),
    ("pow", "power"),
    ("matmul", "matmul"),
]:
    setattr(Variable, f"__{_name}__", _operator(_op))
    setattr(Variable, f"__r{_name}__", _operator(_op, reverse=True))
Variable.__neg__ = lambda self: -self._read()

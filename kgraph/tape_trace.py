"""Tracing a tape's `with` block once and replaying it: the graph a `GradientTape` records into.

The first time a `with GradientTape()` statement runs, every op of its block is added to a `TapeGraph` and
logged as `(op, inputs, attrs)`; node ids are positions in that log. When the block is sealed (by
`tape.gradient`) the graph and its log become a `Recording` of that call site.

The next time the same statement runs, the user's Python code runs again and emits the same ops, but `add`
only compares each one with the recording (op name, input ids, attributes: a few tuple and dict compares)
and hands back the recorded id, so no node, edge or type is built and the compiled programs of the recording
are reused as they are. Arrays entering the block are the program's feeds: a feed of another shape, another
constant, another variable or another op ends the replay at that op. The graph then keeps the matching
prefix of the recording as real nodes and records from there (or switches to another recording of the same
call site that shares the prefix and goes on with that op), so any Python path is traced correctly; only
the path taken decides which compiled program runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from kgraph.ir.builder import Sym
from kgraph.ir.graph import Graph, Node
from kgraph.ir.types import TensorType

_MAX_RECORDINGS_PER_SITE = 8


@dataclass
class Recording:
    """The forward trace of one tape block: its graph (node id == position in `log`) and compiled programs."""

    graph: Graph
    log: list[tuple]
    spans: dict = field(default_factory=dict)  # start position -> a model call that can be skipped
    programs: dict = field(default_factory=dict)
    nodes: list = field(init=False)  # the graph's nodes by id, for lookups while replaying
    feeds: dict = field(init=False)  # position of each feed's input op -> (its feed index, its shape)
    last_request: tuple | None = None  # (target, seeded, sources, marked, program) of the last gradient call

    def __post_init__(self):
        self.nodes = [self.graph.node(i) for i in range(len(self.log))]
        self.feeds = {
            k: (int(attrs["name"][4:]), attrs["shape"])
            for k, (op, _, attrs) in enumerate(self.log)
            if op == "input" and attrs["name"].startswith("feed") and attrs["name"][4:].isdigit()
        }


# (id of the code object, bytecode offset) of a `with GradientTape()` statement -> (that code object, kept
# alive so the id stays its own; the site's recordings, most recently used first). Keyed by id: hashing a
# code object hashes its constants again at every call (0.2-0.7 us), and a loop enters a tape every step.
_SITES: dict[tuple, tuple] = {}


def site_recordings(code, offset: int) -> list[Recording]:
    site = _SITES.get((id(code), offset))
    if site is None:
        site = _SITES[id(code), offset] = (code, [])
    return site[1]


def _same_attrs(a: dict, b: dict) -> bool:
    try:
        return a == b
    except ValueError:  # arrays among the attributes
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _same_entry(entry: tuple, op: str, inputs: tuple, attrs: dict) -> bool:
    return entry[0] == op and entry[1] == inputs and _same_attrs(entry[2], attrs)


class _Attributes:
    """The `graph` attribute dict of a networkx graph, without the graph (see TapeGraph).

    A skipped call's trace state (`TapeGraph.call_span`) is put back into the dict when it is next read: a
    loop's step skips two calls, the model's and the loss's, and nothing reads the first one's state.
    """

    def __init__(self):
        self._attributes: dict = {}
        self.pending: dict | None = None  # the state of the last skipped call, not put back yet

    @property
    def graph(self) -> dict:
        if self.pending is not None:
            _put_back(self._attributes, self.pending, None)
            self.pending = None
        return self._attributes


def _put_back(state: dict, saved: dict, tape: Graph | None) -> None:
    """Sets the trace state a skipped call leaves (`TapeGraph._state`) in a graph's attribute dict."""
    state["variable_nodes"] = saved["variable_nodes"].copy()
    state["variable_objects"] = saved["variable_objects"].copy()
    assigned = saved["assigned"]
    state["assigned"] = {k: (node, Sym(tape, i)) for k, (node, i) in assigned.items()} if assigned else {}
    if saved["added_losses"]:
        state["added_losses"] = [Sym(tape, i) for i in saved["added_losses"]]
        state["added_loss_owners"] = list(saved["added_loss_owners"])


class TapeGraph(Graph):
    """The graph of one tape: replays a recording of its call site while the ops match, records otherwise."""

    def __init__(self, recordings: list[Recording]):
        # While it replays, the graph holds no nodes: only the attribute dict of a networkx graph, which is
        # made when the block leaves its recordings. A tape is made at every step of a loop, so the fields
        # with defaults are class attributes until set.
        if recordings:  # the dataclass fields, set directly; `_materialize` starts the ids, the log and spans
            self.nx, self.outputs, self.effects = _Attributes(), {}, []
            self._recording = recordings[0]
        else:
            Graph.__init__(self)
            self._log: list[tuple] = []
            self._spans: dict[int, tuple] = {}
        self.rows: list[np.ndarray] = []  # feed i ("feed{i}") as the C-contiguous float32 row programs take
        self.marked: list[int] = []  # values the program returns besides the target (a model's outputs)
        self._feed_nodes: dict[int, tuple] = {}  # id(array) -> (its input node, it): one feed per array
        self._recordings = recordings

    fusion = memory = _ids = None
    values: Mapping | None = None  # what the last `gradient` computed, by node id (`Sym.numpy`)
    _recording: Recording | None = None  # the recording being replayed
    _cursor = 0  # the position in its log
    _sealed: Recording | None = None

    # --- replay ------------------------------------------------------------------------------------
    def add(self, op: str, inputs=(), origin: str = "", **attrs) -> int:
        recording = self._recording
        if recording is not None:
            inputs = tuple(inputs)
            k = self._cursor
            if k < len(recording.log) and _same_entry(recording.log[k], op, inputs, attrs):
                self._cursor = k + 1
                return k
            if self._switch(op, inputs, attrs):  # another recording of this site goes on with this op
                self._cursor = k + 1
                return k
            self._materialize()
        node_id = Graph.add(self, op, inputs, origin, **attrs)
        self._log.append((op, tuple(inputs), attrs))
        return node_id

    def node(self, node_id: int) -> Node:
        if self._recording is not None:
            return self._recording.nodes[node_id]
        return Graph.node(self, node_id)

    def type(self, node_id: int) -> TensorType:
        if self._recording is not None:
            return self._recording.nodes[node_id].type
        return Graph.node(self, node_id).type

    def _switch(self, op: str, inputs: tuple, attrs: dict) -> bool:
        """Moves to another recording whose log starts like this trace and goes on with this op."""
        current, k = self._recording, self._cursor
        for other in self._recordings:
            if (
                other is not current
                and len(other.log) > k
                and _same_entry(other.log[k], op, inputs, attrs)
                and all(_same_entry(a, *b) for a, b in zip(other.log[:k], current.log[:k], strict=True))
            ):
                self._recording = other
                return True
        return False

    def _materialize(self) -> None:
        """The block left every recording: the matched prefix becomes real nodes, and tracing records on."""
        current, k = self._recording, self._cursor
        if isinstance(self.nx, _Attributes):
            attributes, self.nx = self.nx.graph, nx.DiGraph()
            self.nx.graph = attributes
        self._log = list(current.log[:k])
        self._spans = {start: span for start, span in current.spans.items() if span[1] <= k}
        for node_id in range(k):
            node = current.graph.node(node_id)
            self.nx.add_node(node_id, node=node)
            for pos, src in enumerate(node.inputs):
                if self.nx.has_edge(src, node_id):
                    self.nx.edges[src, node_id]["positions"].append(pos)
                else:
                    self.nx.add_edge(src, node_id, positions=[pos])
        self._ids = itertools.count(k)
        self._recording = None

    # --- skipping whole model calls -----------------------------------------------------------------
    def call_span(self, key: tuple, run):
        """`run()` (a model's call on traced inputs), or its recorded outputs without running it.

        Like a `tf.function`, a functional model's Python code then runs once per recording: its ops depend
        only on its layers, its inputs (`key` names them by id, hence by type) and `training`. The graph-level
        state the call leaves (variables read and written, added losses) is restored from the recording.
        """
        recording = self._recording
        start = self._cursor if recording is not None else len(self._log)
        if recording is not None:
            span = recording.spans.get(start)
            if span is not None and span[0] == key:
                self._cursor = span[1]
                self._restore(span[4])
                if not span[3]:
                    return Sym(self, span[2][0])
                return [Sym(self, i) for i in span[2]]
        feeds = len(self.rows)
        outputs = run()
        flat = outputs if isinstance(outputs, list | tuple) else [outputs]
        if (
            self._recording is None
            and len(self.rows) == feeds  # arrays the call itself feeds change every step
            and all(isinstance(o, Sym) and o.graph is self for o in flat)
        ):
            end = len(self._log)
            self._spans[start] = (
                key,
                end,
                [o.id for o in flat],
                isinstance(outputs, list | tuple),
                self._state(),
            )
        return outputs

    def _state(self) -> dict:
        state = self.nx.graph
        return {
            "variable_nodes": dict(state.get("variable_nodes", {})),
            "variable_objects": dict(state.get("variable_objects", {})),
            "assigned": {k: (node, value.id) for k, (node, value) in state.get("assigned", {}).items()},
            "added_losses": [loss.id for loss in state.get("added_losses", [])],
            "added_loss_owners": list(state.get("added_loss_owners", [])),
            "effects": list(self.effects),
        }

    def _restore(self, saved: dict) -> None:
        self.effects = list(saved["effects"])
        if isinstance(self.nx, _Attributes) and not saved["assigned"] and not saved["added_losses"]:
            self.nx.pending = saved  # put back when read (it holds no tensors of this graph)
        else:
            _put_back(self.nx.graph, saved, self)

    # --- feeds and results -------------------------------------------------------------------------
    def feed(self, value: np.ndarray) -> Sym:
        """The input node of an array entering the block (the same node each time the same array enters)."""
        fed = self._feed_nodes.get(id(value))
        if fed is not None:
            return Sym(self, fed[0])
        index, rows = len(self.rows), self.rows
        rows.append(np.ascontiguousarray(value, np.float32).reshape(1, -1))
        recording, k = self._recording, self._cursor
        if recording is not None and recording.feeds.get(k) == (index, value.shape):
            self._cursor, node_id = k + 1, k  # what `add` would find, without building its arguments
        else:
            node_id = self.add("input", name=f"feed{index}", shape=value.shape, dtype="float32")
        self._feed_nodes[id(value)] = (node_id, value)  # the array stays alive, so its id stays its own
        return Sym(self, node_id)

    def feed_node(self, value) -> int | None:
        fed = self._feed_nodes.get(id(value))
        return None if fed is None else fed[0]

    def mark(self, values) -> None:
        """Asks the gradient program to return `values` too (a model's predictions, read after the step): a
        tensor or a list or tuple of them."""
        for value in values if isinstance(values, (list, tuple)) else (values,):
            if isinstance(value, Sym) and value.graph is self:
                self.marked.append(value.id)

    def seal(self) -> Recording:
        """The recording this block's trace matches, made (and remembered for its call site) if new."""
        recording = self._recording
        if recording is not None:
            if self._cursor == len(recording.log):
                if self._recordings[0] is not recording:
                    self._recordings.remove(recording)
                    self._recordings.insert(0, recording)
                return recording
            self._materialize()  # the block stopped before the end of the recording
        if self._sealed is not None and len(self._sealed.log) == len(self._log):
            return self._sealed
        self.nx.graph["feeds"] = [f"feed{i}" for i in range(len(self.rows))]  # the programs' input names
        recording = Recording(self.copy(), list(self._log), dict(self._spans))
        self._recordings.insert(0, recording)
        del self._recordings[_MAX_RECORDINGS_PER_SITE:]
        self._sealed = recording
        return recording

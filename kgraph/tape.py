"""GradientTape: gradients of code written with layers and `kgraph.ops`, compiled and cached.

Inside `with GradientTape() as tape:` every op is traced into a graph; arrays that enter the computation
become the program's inputs ("feeds"), so the graph of a loop body is the same at every iteration.
`tape.gradient` adds the backward graph and runs forward and backward as one compiled program, looked up in a
cache keyed by the graph's text and its feeds' shapes: the first iteration compiles, later ones only trace and
run.

Values computed on the tape (the loss) can be read after `gradient` with `float(loss)` or `loss.numpy()`.
"""

from __future__ import annotations

import hashlib

import numpy as np

from kgraph import config
from kgraph.codegen.cpu import ProgramLayout
from kgraph.ir.builder import Sym, tracing
from kgraph.ir.graph import Graph
from kgraph.ir.printer import format_graph
from kgraph.passes.autodiff import gradients
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.program import CompiledProgram, InterpretedProgram
from kgraph.variables import Variable, order_writes_after_reads, variable_node

_PROGRAMS: dict[str, tuple] = {}  # graph text -> (program, layout), shared by all tapes of the process


class GradientTape:
    """Records operations for automatic differentiation (TensorFlow's GradientTape, as Keras users know it).

    Args:
        persistent: allow several `gradient` calls on one tape.
        watch_accessed_variables: kgraph always watches the variables the computation reads.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self._graph: Graph | None = None
        self._used = False
        self._context = None

    def __enter__(self) -> GradientTape:
        self._graph = Graph()
        self._graph.nx.graph["feeds"] = {}
        self._context = tracing(self._graph)
        self._context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._context.__exit__(*exc)

    def watch(self, tensor) -> None:
        """Marks a traced tensor as a source (variables are watched automatically)."""
        if not isinstance(tensor, Sym) or tensor.graph is not self._graph:
            raise ValueError("GradientTape.watch() takes a tensor computed inside this tape.")

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """Gradients of `target` (summed when not a scalar) with respect to each of `sources`.

        Returns arrays in the structure of `sources`, with None for a source the target does not depend on
        (or zeros with `unconnected_gradients="zero"`).
        """
        if self._graph is None:
            raise RuntimeError("GradientTape.gradient() needs a tape that recorded a computation.")
        if self._used and not self.persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can only be used to compute one set of gradients "
                "(or jacobians); use GradientTape(persistent=True) to call gradient() again."
            )
        if output_gradients is not None:
            raise ValueError("output_gradients is not supported by kgraph's GradientTape.")
        self._used = True
        single = not isinstance(sources, list | tuple)
        sources = [sources] if single else list(sources)
        if not isinstance(target, Sym) or target.graph is not self._graph:
            raise ValueError("The target of tape.gradient() must be computed inside the tape's `with` block.")
        graph = self._graph.copy()
        ids = [
            variable_node(graph, s) if isinstance(s, Variable) else _source_id(s, self._graph)
            for s in sources
        ]
        with tracing(graph):
            grads = gradients(graph, target.id, ids)
        values = _run(graph, [target.id, *[g for g in grads.values() if g is not None]])
        self._graph.nx.graph.setdefault("values", {})[target.id] = values[target.id]
        result = []
        for source, gid in zip(sources, grads.values(), strict=True):
            if gid is not None:
                result.append(values[gid])
            elif unconnected_gradients == "zero":
                result.append(np.zeros(np.shape(source), np.float32))
            else:
                result.append(None)
        return result[0] if single else result


def _source_id(source, graph: Graph) -> int:
    if isinstance(source, Sym) and source.graph is graph:
        return source.id
    raise ValueError(
        f"Cannot differentiate with respect to {source!r}: sources are variables, or tensors "
        "computed inside the tape."
    )


def _run(graph: Graph, wanted: list[int]) -> dict[int, np.ndarray]:
    """Runs `graph` (compiled once per graph text) and returns the values of `wanted`."""
    feeds = graph.nx.graph["feeds"]
    holders = {}
    with tracing(graph):
        for node_id in dict.fromkeys(wanted):
            holders[node_id] = Variable(
                np.zeros(graph.type(node_id).shape, np.float32), name=f"tape/{node_id}"
            )
            holders[node_id].assign(Sym(graph, node_id))
    order_writes_after_reads(graph)
    variables = list(graph.nx.graph.get("variable_objects", {}).values())
    key = _cache_key(graph, variables, set(map(id, holders.values())))
    program = _PROGRAMS.get(key)
    if program is None:  # variables sit in the store in trace order: the same layout at every iteration
        offsets, offset = {}, 0
        for variable in variables:
            offsets[variable.key] = (offset, variable.shape)
            offset += variable._value.size
        layout = ProgramLayout(offsets, sorted(feeds), [])
        planned = run_pipeline(graph, 1, title="gradient tape")
        backend = InterpretedProgram if config.backend() == "numpy" else CompiledProgram
        program = backend(planned, layout, "gradient tape", threads=config.num_threads())
        _PROGRAMS[key] = program
    store = np.empty(max(sum(v._value.size for v in variables), 1), np.float32)
    starts = np.cumsum([0] + [v._value.size for v in variables])
    for variable, start in zip(variables, starts, strict=False):  # the tape reads current values
        store[start : start + variable._value.size] = variable._value.ravel()
    data = [np.ascontiguousarray(feeds[name], dtype=np.float32).reshape(1, -1) for name in sorted(feeds)]
    program.run(store, data, np.zeros(1, np.int64), 0, 1)
    position = {v.key: i for i, v in enumerate(variables)}
    return {
        node_id: store[starts[position[h.key]] : starts[position[h.key] + 1]].reshape(h.shape).copy()
        for node_id, h in holders.items()
    }


def _cache_key(graph: Graph, variables: list[Variable], holders: set[int]) -> str:
    """The graph's text with variable keys numbered by position, its constants, and which model variables it
    reads (the program is laid out for those objects)."""
    text = format_graph(graph)
    for index, variable in enumerate(variables):
        text = text.replace(f"'{variable.key}'", f"'v{index}'")
    digest = hashlib.sha256(text.encode())
    for node in graph.nodes():
        if node.op == "const":
            digest.update(np.asarray(node.attrs["value"]).tobytes())
    digest.update(repr([id(v) for v in variables if id(v) not in holders]).encode())
    return digest.hexdigest()

"""Memory planning: one arena for every intermediate value, with reuse.

1. Storage that needs no arena: data inputs (the program's arguments), variables (the model's persistent
   store), constants. A value whose only reader is `assign(var, value)` is computed straight into the
   variable (a weight gradient lands in its slot of the flat gradient region): in the assign's kernel, or
   in an earlier kernel when no kernel from that one to the assign's touches the variable, and then the
   assign's own kernel, copying nothing, is dropped (an embedding's dense gradient, 10 MB in the benchmark
   LSTM, was copied into its slot every step). A reshape is a view of its input.
2. In place: a kernel writes a full-domain output over a same-sized input that dies in that kernel (the loop
   reads element [r, c] before it writes it; a GEMM's epilogue runs after BLAS has read the operands).
3. Lifetimes are kernel-schedule intervals; buffers are placed largest first at the offset of the smallest
   gap that fits among the buffers they overlap in time (best fit).

The plan reports three figures: bytes with no reuse (every value its own buffer), the arena, and the lower
bound (the largest total of bytes live at one kernel).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kgraph.ir.graph import Graph
from kgraph.passes.fuse import Fusion
from kgraph.passes.loop_domain import FULL, analyze, classify

ALIGN = 16  # float32 elements: 64 bytes, one cache line


@dataclass(frozen=True)
class Storage:
    """Where a value lives: `space` is arena (key = buffer id), variable, input or const (key = name/id)."""

    space: str
    key: object
    offset: int = 0  # elements into the arena (resolved after placement)


@dataclass
class Buffer:
    size: int  # float32 elements at the planned batch size
    start: int
    end: int
    values: list[int] = field(default_factory=list)
    offset: int = 0


@dataclass
class MemoryPlan:
    batch_size: int
    storage: dict[int, Storage]
    buffers: list[Buffer]
    arena_size: int
    no_reuse_bytes: int
    lower_bound_bytes: int

    @property
    def arena_bytes(self) -> int:
        return self.arena_size * 4

    def __str__(self) -> str:
        lines = [
            f"memory plan at batch size {self.batch_size}: arena {_kib(self.arena_bytes)}, "
            f"no reuse {_kib(self.no_reuse_bytes)}, lower bound {_kib(self.lower_bound_bytes)} "
            f"(arena / lower bound = {self.arena_bytes / max(self.lower_bound_bytes, 1):.2f})"
        ]
        for i, b in enumerate(self.buffers):
            values = ", ".join(f"%{v}" for v in b.values)
            lines.append(
                f"  buffer {i}: offset {b.offset * 4} B, {b.size * 4} B, kernels {b.start}..{b.end}: {values}"
            )
        return "\n".join(lines)


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def plan_memory(graph: Graph, batch_size: int) -> Graph:
    """Returns a copy of the fused `graph` whose `memory` field holds the plan for `batch_size` rows."""
    graph = graph.copy()
    kernels = graph.fusion.kernels
    kernel_of = graph.fusion.kernel_of()
    end_of_step = len(kernels)
    storage: dict[int, Storage] = {}
    for node in graph.nodes():
        if node.op == "input":
            storage[node.id] = Storage("input", node.attrs["name"])
        elif node.op in ("variable", "assign"):
            storage[node.id] = Storage("variable", node.attrs["key"])
        elif node.op == "const":
            storage[node.id] = Storage("const", node.id)

    for node in graph.nodes():  # values computed straight into the variable they are assigned to
        if node.op == "assign":
            value = node.inputs[1]
            readers = [c for c in graph.consumers(value) if graph.nx.edges[value, c]["positions"]]
            if readers != [node.id] or value in storage or value in graph.outputs.values():
                continue
            first, last = kernel_of.get(value), kernel_of[node.id]
            if first == last or (
                first is not None
                and kernels[first].kind != "view"
                and _untouched(graph, node, range(first, last + 1), kernels, kernel_of)
            ):
                storage[value] = storage[node.id]
    copies = [k for k in kernels if _copies_nothing(graph, k, storage)]
    if copies:
        kernels = [k for k in kernels if k not in copies]
        notes = [f"{k.name}: dropped, its value is computed straight into the variable" for k in copies]
        graph.fusion = Fusion(kernels, graph.fusion.notes + notes)
        kernel_of = graph.fusion.kernel_of()
        end_of_step = len(kernels)

    def last_use(value: int) -> int:
        uses = [
            kernel_of[c]
            for c in graph.consumers(value)
            if graph.nx.edges[value, c]["positions"] and c in kernel_of
        ]
        if value in graph.outputs.values():
            uses.append(end_of_step)
        return max(uses, default=kernel_of.get(value, 0))

    buffers: list[Buffer] = []
    buffer_of: dict[int, int] = {}
    no_reuse = 0
    for index, kernel in enumerate(kernels):
        if kernel.kind == "view":
            (value,) = kernel.nodes
            source = graph.node(value).inputs[0]
            storage[value] = storage[source]
            if source in buffer_of:
                buffer_of[value] = buffer_of[source]
                buf = buffers[buffer_of[value]]
                buf.end = max(buf.end, last_use(value))
                buf.values.append(value)
            continue
        anchor = kernel.anchor if kernel.anchor is not None and kernel.anchor not in storage else None
        fresh = [v for v in kernel.outputs if v not in storage and v != anchor]
        if anchor is not None:
            _new_buffer(graph, anchor, index, buffers, buffer_of, storage, batch_size, last_use)
            no_reuse += graph.type(anchor).nbytes(batch_size)
        in_place = _in_place_candidates(graph, kernel, index, buffers, buffer_of)
        kinds = analyze(graph, kernel.nodes, kernel.domain, kernel.anchor).kind if in_place else {}
        for value in fresh:
            no_reuse += graph.type(value).nbytes(batch_size)
            size = _aligned(graph.type(value).size(batch_size))
            reuse = next((b for b in in_place if buffers[b].size == size), None)
            if reuse is not None and kinds.get(value) == FULL:
                in_place.remove(reuse)
                buffer_of[value] = reuse
                buffers[reuse].values.append(value)
                buffers[reuse].end = max(buffers[reuse].end, last_use(value))
                storage[value] = Storage("arena", reuse)
            else:
                _new_buffer(graph, value, index, buffers, buffer_of, storage, batch_size, last_use)

    lower_bound = max(
        (sum(b.size for b in buffers if b.start <= t <= b.end) for t in range(end_of_step + 1)), default=0
    )
    arena = _place(buffers)
    for value, st in list(storage.items()):
        if st.space == "arena":
            storage[value] = Storage("arena", st.key, buffers[st.key].offset)
    graph.memory = MemoryPlan(batch_size, storage, buffers, arena, no_reuse, lower_bound * 4)
    return graph


def _untouched(graph: Graph, assign, span: range, kernels, kernel_of) -> bool:
    """Whether no kernel in `span` reads or writes the variable `assign` writes, other than that assign
    (readers through views of the variable included), so its value may be written early."""
    key = assign.attrs["key"]
    holders = [n.id for n in graph.nodes() if n.op in ("variable", "assign") and n.attrs["key"] == key]
    while holders:
        holder = holders.pop()
        if holder != assign.id and graph.node(holder).op == "assign" and kernel_of.get(holder) in span:
            return False
        for reader in graph.consumers(holder):
            index = kernel_of.get(reader)
            if reader == assign.id or index is None or not graph.nx.edges[holder, reader]["positions"]:
                continue
            if kernels[index].kind == "view":
                holders.append(reader)  # a view of the variable: its readers read the variable
            elif index in span:
                return False
    return True


def _copies_nothing(graph: Graph, kernel, storage: dict) -> bool:
    """A kernel of assigns whose values were computed straight into their variables."""
    nodes = [graph.node(n) for n in kernel.nodes]
    return kernel.kind != "view" and all(
        n.op == "assign" and storage.get(n.inputs[1]) == storage[n.id] for n in nodes
    )


def _new_buffer(graph, value, index, buffers, buffer_of, storage, batch_size, last_use) -> None:
    size = _aligned(graph.type(value).size(batch_size))
    buffers.append(Buffer(size, index, max(index, last_use(value)), [value]))
    buffer_of[value] = len(buffers) - 1
    storage[value] = Storage("arena", len(buffers) - 1)


def _in_place_candidates(graph: Graph, kernel, index, buffers, buffer_of) -> list[int]:
    """Arena buffers that `kernel` reads whole (full-domain values, GEMM operands, its own GEMM result) and
    that die in it, so its outputs may take them over."""
    if kernel.kind not in ("loop", "gemm"):
        return []
    reads = list(kernel.inputs)
    if kernel.anchor is not None:
        reads.append(kernel.anchor)
    operands = set(graph.node(kernel.anchor).inputs) if kernel.anchor is not None else set()
    candidates = []
    for value in reads:
        b = buffer_of.get(value)
        if b is None or buffers[b].end != index or b in candidates:
            continue
        if (
            value == kernel.anchor
            or value in operands
            or classify(graph.type(value).shape, kernel.domain) == FULL
        ):
            candidates.append(b)
    return candidates


def _place(buffers: list[Buffer]) -> int:
    """Best-fit offsets, largest buffers first; returns the arena size in elements."""
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.start)):
        busy = sorted(
            (p.offset, p.offset + p.size) for p in placed if p.start <= buf.end and buf.start <= p.end
        )
        best, cursor = None, 0
        for lo, hi in busy:
            gap = lo - cursor
            if gap >= buf.size and (best is None or gap < best[0]):
                best = (gap, cursor)
            cursor = max(cursor, hi)
        buf.offset = best[1] if best else cursor
        placed.append(buf)
    return max((b.offset + b.size for b in buffers), default=0)

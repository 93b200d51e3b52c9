"""Fusion: groups the nodes of a graph into kernels.

Greedy, consumer first: nodes are visited in reverse topological order and each joins the kernel of one of its
consumers when that is legal, else starts a kernel of its own. A producer therefore lands in the loop of the
op that consumes it (a relu mask is computed inside the backward GEMM's epilogue, not stored by the forward).

Kernel kinds:
    gemm   one matmul through BLAS, then its epilogue loop (bias, activation, activation gradient, the bias
           gradient as a column reduction, softmax and cross-entropy with their gradients...)
    loop   one fused loop nest over a domain (see loop_domain): elementwise chains, row/column/whole
           reductions, optimizer updates written straight into the variables
    nd     one elementwise op or reduction whose broadcasting does not fit a rows x columns loop, as plain
           nested loops over its own shape
    view   a reshape: no code, the memory plan gives it its input's storage
    copy   concat, slice or transpose that could not become a view
    opaque one op with a hand-written lowering of its own (window gathers, scans): runs alone

Every fusion not taken is recorded with its reason (`Fusion.notes`).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import networkx as nx

from kgraph.ir.graph import Graph
from kgraph.ir.registry import get_op
from kgraph.passes.loop_domain import Unfusable, analyze

_INLINED_SOURCES = {"batch_size"}


@dataclass
class Kernel:
    kind: str
    nodes: list[int]
    domain: tuple = ()
    anchor: int | None = None
    name: str = ""
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)


@dataclass
class Fusion:
    kernels: list[Kernel]
    notes: list[str]

    def kernel_of(self) -> dict[int, int]:
        return {n: i for i, k in enumerate(self.kernels) for n in k.nodes}

    def __str__(self) -> str:
        lines = [f"{len(self.kernels)} kernels"]
        for k in self.kernels:
            ops = ", ".join(f"%{n}" for n in k.nodes)
            origins = f"  from {', '.join(k.origins)}" if k.origins else ""
            lines.append(f"  {k.name}: {ops}{origins}")
        if self.notes:
            lines.append("fusions not taken:")
            lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def fuse(graph: Graph) -> Graph:
    """Returns a copy of `graph` whose `fusion` field lists its kernels in schedule order."""
    graph = graph.copy()
    topo = [n.id for n in graph.nodes()]
    position = {n: i for i, n in enumerate(topo)}
    groups: list[dict] = []
    group_of: dict[int, int] = {}
    notes: list[str] = []

    for v in reversed(topo):
        node = graph.node(v)
        kind = get_op(node.op).kind
        if kind == "source":
            continue
        placed = False
        for gid in _candidate_groups(graph, v, group_of):
            group = groups[gid]
            reason = _join_reason(graph, v, gid, groups, group_of, position)
            if reason is None:
                group["nodes"].append(v)
                group_of[v] = gid
                if kind == "gemm":
                    group["kind"], group["anchor"] = "gemm", v
                placed = True
                break
            notes.append((v, max(group["nodes"]), reason))
        if not placed and kind == "injective":
            _new_group(groups, group_of, v, "view" if node.op == "reshape" else "copy", node.type.shape)
        elif not placed and kind == "opaque":
            _new_group(groups, group_of, v, "opaque", node.type.shape)
        elif not placed:
            gid = _new_group(
                groups, group_of, v, "gemm" if kind == "gemm" else "loop", _natural_domain(graph, v)
            )
            if kind == "gemm":
                groups[gid]["anchor"] = v
            else:
                try:
                    analyze(graph, [v], groups[gid]["domain"])
                except Unfusable as err:
                    groups[gid]["kind"] = "nd"
                    notes.append((v, None, f"runs as a plain N-d loop: {err}"))

    _merge_groups(graph, groups, group_of, position)
    live = [g for g in groups if g["nodes"]]
    group_of = {n: gid for gid, g in enumerate(live) for n in g["nodes"]}
    # A refusal the merge phase overcame (both nodes ended in one kernel) is no longer worth reporting.
    reasons = [
        f"%{v} = {graph.node(v).op} "
        + (reason if target is None else f"not fused into the kernel of %{target}: {reason}")
        for v, target, reason in notes
        if target is None or group_of[v] != group_of[target]
    ]
    graph.fusion = Fusion(_schedule(graph, live, group_of, position), reasons)
    return graph


def _merge_groups(graph: Graph, groups, group_of, position) -> None:
    """Second chance: merges a kernel into one that consumes its values when the union is one legal loop.

    The greedy walk splits a producer between consumers in different kernels (a forward softmax read by the
    loss and by its gradient); merging whole kernels afterwards puts such a forward and backward together.
    """
    merged = True
    while merged:
        merged = False
        for producer, consumer in _group_edges(graph, groups, group_of) + _sibling_pairs(
            graph, groups, group_of
        ):
            reason = _merge_reason(graph, groups, group_of, position, producer, consumer)
            if reason is None:
                target = groups[consumer]
                for n in groups[producer]["nodes"]:
                    group_of[n] = consumer
                target["nodes"] += groups[producer]["nodes"]
                if groups[producer]["anchor"] is not None:
                    target["kind"], target["anchor"] = "gemm", groups[producer]["anchor"]
                groups[producer]["nodes"] = []
                merged = True
                break


def _sibling_pairs(graph: Graph, groups, group_of) -> list[tuple[int, int]]:
    """Small kernels that read no other kernel's values (a counter's `+= 1`), paired with every later kernel.

    Merging one of them into another kernel saves a call; `_merge_reason` still checks that nothing has to
    run between the two.
    """
    pairs = []
    for gid, group in enumerate(groups):
        if not group["nodes"] or group["kind"] != "loop" or any(d != 1 for d in group["domain"]):
            continue
        reads_kernels = any(
            group_of.get(i) not in (None, gid) for n in group["nodes"] for i in graph.nx.predecessors(n)
        )
        if not reads_kernels:
            pairs += [
                (gid, other)
                for other in range(len(groups) - 1, -1, -1)
                if other != gid and groups[other]["nodes"] and groups[other]["kind"] in ("loop", "gemm")
            ]
    return pairs


def _group_edges(graph: Graph, groups, group_of) -> list[tuple[int, int]]:
    edges = set()
    for gid, group in enumerate(groups):
        for n in group["nodes"]:
            for succ in graph.nx.successors(n):
                other = group_of.get(succ)
                if other is not None and other != gid and graph.nx.edges[n, succ]["positions"]:
                    edges.add((gid, other))
    return sorted(edges)


def _merge_reason(graph: Graph, groups, group_of, position, producer: int, consumer: int) -> str | None:
    a, b = groups[producer], groups[consumer]
    if a["kind"] not in ("loop", "gemm") or b["kind"] not in ("loop", "gemm"):
        return "view, copy and opaque kernels do not merge"
    if a["anchor"] is not None and b["anchor"] is not None:
        return "a kernel holds one matmul"
    anchor = a["anchor"] if a["anchor"] is not None else b["anchor"]
    members = sorted(a["nodes"] + b["nodes"], key=position.__getitem__)
    if anchor is not None and set(members) & nx.ancestors(graph.nx, anchor):
        return "GEMM operands are read from memory"
    for first, second in ((producer, consumer), (consumer, producer)):
        for succ in {
            group_of[s] for n in groups[first]["nodes"] for s in graph.nx.successors(n) if s in group_of
        }:
            if succ not in (producer, consumer) and _reaches(graph, succ, second, groups, group_of):
                return "a third kernel runs between them"
    domains = [graph.type(anchor).shape] if anchor is not None else [b["domain"], a["domain"]]
    for domain in dict.fromkeys(tuple(d) for d in domains):
        try:
            analyze(graph, members, domain, anchor)
        except Unfusable:
            continue
        b["domain"] = domain
        return None
    return "no common loop domain"


def _new_group(groups, group_of, v, kind, domain) -> int:
    groups.append({"kind": kind, "nodes": [v], "domain": tuple(domain), "anchor": None})
    group_of[v] = len(groups) - 1
    return len(groups) - 1


def _natural_domain(graph: Graph, v: int) -> tuple:
    node = graph.node(v)
    if node.op == "assign":
        return tuple(graph.type(node.inputs[1]).shape)
    if get_op(node.op).kind == "reduction":
        return tuple(graph.type(node.inputs[0]).shape)
    return tuple(node.type.shape)


def _candidate_groups(graph: Graph, v: int, group_of) -> list[int]:
    """Fusable groups among v's consumers: the one holding most of them first, then the latest made."""
    counts = Counter(
        group_of[c] for c in graph.nx.successors(v) if c in group_of and graph.nx.edges[v, c]["positions"]
    )
    return sorted(counts, key=lambda gid: (-counts[gid], -gid))


def _join_reason(graph: Graph, v: int, gid: int, groups, group_of, position) -> str | None:
    group = groups[gid]
    node = graph.node(v)
    if group["kind"] not in ("loop", "gemm"):
        return f"its consumer is a {group['kind']} kernel"
    if get_op(node.op).kind == "opaque":
        return f"{node.op} is an opaque op with a kernel of its own"
    if get_op(node.op).kind == "injective" and node.op != "reshape":
        return f"{node.op} moves data across the loop's rows and columns"
    if get_op(node.op).kind == "gemm":
        if group["anchor"] is not None:
            return "a kernel holds one matmul"
        if tuple(node.type.shape) != group["domain"]:
            return f"the matmul's output shape differs from the loop's domain {group['domain']}"
    anchor = group["anchor"]
    if anchor is not None and nx.has_path(graph.nx, v, anchor):
        return "GEMM operands are read from memory, so what produces them runs in an earlier kernel"
    for consumer in graph.nx.successors(v):
        other = group_of.get(consumer)
        if other is not None and other != gid and _reaches(graph, other, gid, groups, group_of):
            return f"joining would form a cycle through the kernel of %{max(groups[other]['nodes'])}"
    members = sorted([*group["nodes"], v], key=position.__getitem__)
    domains = [group["domain"]]
    if anchor is None and _natural_domain(graph, v) != group["domain"]:
        domains.append(_natural_domain(graph, v))  # a loop may widen to the larger value it now reads
    reason = None
    for domain in domains:
        try:
            analyze(graph, members, domain, anchor if get_op(node.op).kind != "gemm" else v)
        except Unfusable as err:
            reason = reason or str(err)
            continue
        group["domain"] = domain
        return None
    return reason


def _reaches(graph: Graph, start: int, goal: int, groups, group_of) -> bool:
    """Whether kernel `goal` depends, through any chain of nodes, on kernel `start`."""
    seen, queue = {start}, deque([start])
    while queue:
        gid = queue.popleft()
        for n in groups[gid]["nodes"]:
            for succ in graph.nx.successors(n):
                nxt = group_of.get(succ)
                if nxt == goal:
                    return True
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
    return False


def _schedule(graph: Graph, groups, group_of, position) -> list[Kernel]:
    deps = nx.DiGraph()
    deps.add_nodes_from(range(len(groups)))
    for gid, group in enumerate(groups):
        for n in group["nodes"]:
            for succ in graph.nx.successors(n):
                other = group_of.get(succ)
                if other is not None and other != gid:
                    deps.add_edge(gid, other)
    first = {gid: min(position[n] for n in g["nodes"]) for gid, g in enumerate(groups)}
    order = list(nx.lexicographical_topological_sort(deps, key=first.__getitem__))
    roots = set(graph.outputs.values())
    kernels = []
    for index, gid in enumerate(order):
        group = groups[gid]
        members = sorted(group["nodes"], key=position.__getitem__)
        member_set = set(members)
        inputs = list(
            dict.fromkeys(
                i
                for n in members
                for i in graph.node(n).inputs
                if i not in member_set and graph.node(i).op not in _INLINED_SOURCES
            )
        )
        outputs = [
            n
            for n in members
            if n in roots
            or graph.node(n).op == "assign"
            or any(c not in member_set for c in graph.consumers(n) if graph.nx.edges[n, c]["positions"])
        ]
        ops = list(dict.fromkeys(graph.node(n).op for n in members if graph.node(n).op != "assign"))
        if any(graph.node(n).op == "assign" for n in members):
            ops.append("assign")
        label = "_".join(ops[:4]) + ("_etc" if len(ops) > 4 else "")
        origins = list(dict.fromkeys(graph.node(n).origin for n in members if graph.node(n).origin))
        kernels.append(
            Kernel(
                group["kind"],
                members,
                group["domain"],
                group["anchor"],
                f"k{index}_{label}",
                inputs,
                outputs,
                origins,
            )
        )
    return kernels

"""The fixed pass pipeline: (on the CPU) project in scans -> simplify -> fuse -> plan memory, printable after
every pass.

Set `KGRAPH_PRINT_IR=1` (or pass `trace=print`) to see the graph after each pass; the fusion report and the
memory plan are printed with it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from kgraph.ir.graph import Graph
from kgraph.passes.fuse import fuse
from kgraph.passes.memory import plan_memory
from kgraph.passes.projection import project_in_scans
from kgraph.passes.simplify import simplify


def run_pipeline(
    graph: Graph,
    batch_size: int,
    trace: Callable[[str], None] | None = None,
    title: str = "program",
    backend: str = "cpu",
) -> Graph:
    """Simplifies, fuses and plans `graph` for `batch_size` rows on `backend`; returns the planned copy."""
    if trace is None and os.environ.get("KGRAPH_PRINT_IR"):
        trace = print
    steps = [("simplify", simplify), ("fuse", fuse), ("plan_memory", lambda g: plan_memory(g, batch_size))]
    if backend == "cpu":  # only the CPU's scan projects its inputs
        steps.insert(0, ("project_in_scans", lambda g: project_in_scans(g, batch_size)))
    if trace:
        trace(f"--- {title}: input ---\n{graph}")
    for name, run in steps:
        graph = run(graph)
        if trace:
            extra = {"fuse": graph.fusion, "plan_memory": graph.memory}.get(name)
            trace(f"--- {title}: after {name} ---\n{graph if extra is None else extra}")
    return graph

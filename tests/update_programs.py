"""Test helper: trace a function that only updates variables (an optimizer step) and run it as a program.

`kgraph.testing.run_traced` needs a batch input that the program reads; an optimizer step reads none, so this
helper builds the store and the program itself, with no data inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kgraph.codegen.cpu import ProgramLayout
from kgraph.ir.builder import tracing
from kgraph.ir.graph import Graph
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.program import CompiledProgram, InterpretedProgram
from kgraph.runtime.store import VariableStore
from kgraph.variables import Variable, order_writes_after_reads


def update_program(
    fn: Callable[[dict[str, Variable]], None],
    variables: list[Variable],
    regions: dict[str, list[Variable]] | None = None,
    backend: str = "numpy",
) -> Callable[[], None]:
    """Lays `variables` out in one store, traces `fn(flat_regions)` and returns a function running one step.

    Args:
        fn: traced once with the store's flat views (`regions` name -> flat Variable).
        variables: every variable the program reads or writes, in store order.
        regions: runs of consecutive variables to expose as flat views.
        backend: "numpy" (the interpreter) or "cpu" (compiled).
    """
    store = VariableStore(variables, regions)
    graph = Graph()
    with tracing(graph):
        fn(store.regions)
    order_writes_after_reads(graph)
    layout = ProgramLayout(store.layout, [], [])
    program_cls = CompiledProgram if backend == "cpu" else InterpretedProgram
    program = program_cls(run_pipeline(graph, 1), layout, "optimizer_test")
    no_rows = np.zeros(0, np.int64)
    return lambda: program.run(store.array, [], no_rows, 0, 1)

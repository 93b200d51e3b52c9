"""Test helpers: run a traced function through the reference interpreter or the compiled CPU backend."""

from __future__ import annotations

import numpy as np

from kgraph.codegen.cpu import ProgramLayout
from kgraph.ir.builder import Sym, tracing
from kgraph.ir.graph import Graph
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.program import CompiledProgram, InterpretedProgram
from kgraph.runtime.store import VariableStore
from kgraph.variables import Variable, order_writes_after_reads


def run_traced(fn, *arrays, backend: str = "numpy", batch_size: int | None = None):
    """Traces `fn` on symbolic inputs shaped like `arrays` (axis 0 is the batch) and runs it on them.

    Outputs with a batch axis come back as arrays over all rows (run in batches of `batch_size`); outputs
    without one (a loss, a metric) come back from the last batch. Variables that `fn` assigns keep the values
    the program wrote. Returns one array or a tuple, like `fn`.
    """
    arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
    total = arrays[0].shape[0]
    batch_size = batch_size or total
    graph = Graph()
    with tracing(graph):
        inputs = [Sym(graph, graph.add("input", name=f"x{i}", shape=(None, *a.shape[1:])))
                  for i, a in enumerate(arrays)]
        result = fn(*inputs)
        outputs = list(result) if isinstance(result, tuple | list) else [result]
        holders = {}
        for i, out in enumerate(outputs):
            if None in out.shape:
                graph.outputs[f"out{i}"] = out.id
            else:
                holders[i] = Variable(np.zeros(out.shape, np.float32), name=f"out{i}")
                holders[i].assign(out)
    order_writes_after_reads(graph)
    variables = list(graph.nx.graph.get("variable_objects", {}).values())
    store = VariableStore(variables)
    layout = ProgramLayout(store.layout, [f"x{i}" for i in range(len(arrays))],
                           [name for name in graph.outputs])
    planned = run_pipeline(graph, batch_size)
    program = (CompiledProgram if backend == "cpu" else InterpretedProgram)(planned, layout, "test")
    results = [np.zeros((total, int(np.prod(outputs[int(name[3:])].shape[1:]))), np.float32)
               for name in graph.outputs]
    steps = -(-total // batch_size)
    program.run(store.array, [a.reshape(total, -1) for a in arrays], np.arange(total), 0, steps, results)
    values = []
    for i, out in enumerate(outputs):
        if i in holders:
            values.append(holders[i].numpy())
        else:
            k = list(graph.outputs).index(f"out{i}")
            values.append(results[k].reshape((total, *out.shape[1:])))
    return values[0] if len(values) == 1 else tuple(values)

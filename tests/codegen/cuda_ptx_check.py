"""Compiles every kernel of a few generated CUDA programs to PTX for sm_90, without a GPU.

Run by `test_cuda_sim.py` in a subprocess (the simulator must be off). Prints `SKIP: <reason>` when the CUDA
toolkit wheels (`numba-cuda[cu13]`) are missing, else `OK <count>`. The kernels' argument types come from
replaying each program's launch plan on numpy stand-ins of the device arrays.
"""

import inspect
import sys
import types

import numpy as np

import kgraph
from kgraph import config, ops
from kgraph.codegen.cache import load_source
from kgraph.codegen.cpu import ProgramLayout
from kgraph.codegen.cuda import input_widths, program_source
from kgraph.ir import Graph, Sym, tracing
from kgraph.ir.builder import emit
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.cuda_program import import_cuda
from kgraph.runtime.store import VariableStore
from kgraph.variables import Variable, order_writes_after_reads
from tests.graphs import mlp_training_graph


class Recorder:
    """Stands in for a kernel: `kernel[grid, block, stream](*args)` records (kernel, args)."""

    def __init__(self, kernel, launches):
        self.kernel, self.launches = kernel, launches

    def __getitem__(self, launch_config):
        return self

    def __call__(self, *args):
        self.launches.append((self.kernel, args))


def launches_of(module, batch: int, data_widths: list[int], outputs: int, store_size: int, arena: int):
    cuda = import_cuda()
    recorded = []
    scope = dict(vars(module))
    for name, value in vars(module).items():
        if isinstance(value, cuda.dispatcher.CUDADispatcher) and name != "uniform":
            scope[name] = Recorder(value, recorded)
    for name, value in vars(module).items():  # host functions see the recorders too
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            scope[name] = types.FunctionType(value.__code__, scope, name)
    f32 = np.float32
    store, consts, arena_array = np.zeros(store_size, f32), np.zeros(4096, f32), np.zeros(arena, f32)
    cursor, order = np.zeros(3, np.int64), np.arange(batch, dtype=np.int64)
    scratch = [np.zeros(batch * w, f32) for w in data_widths]
    for launch, args in scope["plan"](batch, store, consts, arena_array, scratch, cursor, None):
        launch(*args)
    views = [s.reshape(batch, -1) for s in scratch]
    scope["gather"][1, 1, None](cursor, order, *views, *views, batch)
    produced = scope["emit_views"](batch, store, consts, arena_array, scratch)
    scope["emit"][1, 1, None](cursor, *produced, *produced, batch)
    scope["advance"][1, 1, None](cursor, batch)
    return recorded


def programs():
    graph, weights, inputs = mlp_training_graph(sizes=(6, 5, 3), l2=0.01)
    store = VariableStore(weights)
    yield run_pipeline(graph, 4), ProgramLayout(store.layout, inputs, []), store.array.size
    graph = Graph()  # the opaque row gather and its gradient
    table = Variable(np.ones((7, 3), np.float32), name="table")
    with tracing(graph):
        index = Sym(graph, graph.add("input", name="x0", shape=(None,)))
        rows = ops.take(table, index, axis=0)
        graph.outputs["rows"] = (rows * 2.0).id
        table.assign(emit("scatter_add", rows, index, rows=7))
    order_writes_after_reads(graph)
    store = VariableStore([table])
    yield run_pipeline(graph, 4), ProgramLayout(store.layout, ["x0"], ["rows"]), store.array.size
    graph = Graph()  # argmax across rows (an N-d kernel) and over a unit axis (a copy in a loop)
    best = Variable(np.zeros(3, np.float32), name="best")
    with tracing(graph):
        x = Sym(graph, graph.add("input", name="x0", shape=(None, 3)))
        best.assign(ops.argmax(x, axis=0))
        graph.outputs["unit"] = (ops.argmax(ops.expand_dims(x, -1), axis=-1) + 1.0).id
    order_writes_after_reads(graph)
    store = VariableStore([best])
    yield run_pipeline(graph, 4), ProgramLayout(store.layout, ["x0"], ["unit"]), store.array.size
    graph = Graph()  # stacks of matrices multiplied pairwise (attention), in the transpose forms of gradients
    with tracing(graph):
        x = Sym(graph, graph.add("input", name="x0", shape=(None, 3, 2)))
        scores = ops.matmul(x, ops.transpose(x, (0, 2, 1)))
        graph.outputs["scores"] = scores.id
        graph.outputs["ta"] = emit("batch_matmul", x, scores, transpose_a=True).id
        graph.outputs["tb"] = emit("batch_matmul", scores, scores, transpose_b=True).id
    yield run_pipeline(graph, 4), ProgramLayout({}, ["x0"], ["scores", "ta", "tb"]), 1
    config.set_backend("cpu")
    model = kgraph.Sequential(
        [
            kgraph.Input(shape=(5,)),
            kgraph.layers.Dense(4, activation="relu"),
            kgraph.layers.Dropout(0.5),
            kgraph.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = np.ones((8, 5), np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2, 0, 1]]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.predict(x, verbose=0)
    for program in model._programs.values():
        yield program.graph, program.layout, model._state.store.array.size


def main() -> None:
    cuda = import_cuda()
    from numba import float32, typeof

    def probe(a):
        a[0] = 1.0

    try:
        cuda.compile_ptx(probe, (float32[:],), cc=(9, 0))
    except Exception as err:  # noqa: BLE001 - the toolkit wheels (NVVM) are missing or broken
        print(
            f"SKIP: compile_ptx is not usable here ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
        )
        return
    # Device functions (the random stream's hash) compile for the current device's compute capability;
    # with no device, say it is an sm_90 one.
    import numba.cuda.dispatcher as dispatcher

    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
    compiled = set()  # the same source with the same argument types (another program's) is compiled once
    for graph, layout, store_size in programs():
        source, arena = program_source(graph, layout, "ptx check")
        module = load_source(source)
        widths = [w or 1 for w in input_widths(graph, layout)]
        for kernel, args in launches_of(
            module, graph.memory.batch_size, widths, len(layout.outputs), store_size, arena
        ):
            key = (inspect.getsource(kernel.py_func), tuple(typeof(a) for a in args))
            if key in compiled:
                continue
            ptx, _ = cuda.compile_ptx(kernel.py_func, key[1], cc=(9, 0))
            assert ".target sm_90" in ptx, kernel.py_func.__name__
            compiled.add(key)
    print(f"OK {len(compiled)}")


if __name__ == "__main__":
    sys.exit(main())

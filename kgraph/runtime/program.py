"""A program ready to run over batches: the compiled CPU module, or the numpy interpreter of the same graph.

Both take the model's variable store (one flat float32 array), the data arrays (2-D: rows x features), an
index order over the rows, and run `count` batches starting at batch `first`; predict programs copy their
outputs into `results`.
"""

from __future__ import annotations

import numpy as np

from kgraph.codegen.cache import load_source
from kgraph.codegen.cpu import ProgramLayout, const_values, program_source
from kgraph.codegen.threads import use_threads
from kgraph.ir.graph import Graph
from kgraph.random import make_seed
from kgraph.runtime.interpreter import Context, evaluate


class CompiledProgram:
    """The Numba backend: a generated module per program and per kernel (codegen/cpu.py), loaded from the disk
    cache when unchanged."""

    def __init__(self, graph: Graph, layout: ProgramLayout, title: str, threads: int = 1):
        self.graph, self.layout, self.threads = graph, layout, threads
        self.batch_size = graph.memory.batch_size
        sources = program_source(graph, layout, title)
        self.source = sources.text  # the program to read: every kernel under its name, step and run_loop
        for kernel in sources.kernels:
            load_source(kernel)
        self.module = load_source(sources.module)
        self.splits_work = self.module.SPLITS_WORK  # which pool of threads the kernels run on
        self.arena = np.zeros(max(graph.memory.arena_size, 1), np.float32)
        self.consts = const_values(graph)
        self.scratch: list[np.ndarray] = []  # batch-sized copies of the input rows, made at the first run
        self._identity = np.arange(self.batch_size)
        self._scratch_features: list = []
        if any(n.op == "random_uniform" for n in graph.nodes()):
            self.module.seed_random(make_seed())  # compiled code draws from Numba's own generator

    def identity_order(self, total: int) -> np.ndarray:
        """`arange(total)`, kept between calls (predict's rows in order)."""
        if len(self._identity) < total:
            self._identity = np.arange(max(total, 2 * len(self._identity)))
        return self._identity

    @property
    def from_cache(self) -> bool:
        """Whether the native loop came from the disk cache rather than a compile (known after a run)."""
        return sum(self.module.run_loop.stats.cache_hits.values()) > 0

    def run(self, store, data, order, first: int, count: int, results=()) -> int:
        """Runs `count` batches from batch `first`; returns the first data row holding a NaN, or -1."""
        if self.layout.outside:
            raise NotImplementedError("A program with variables outside the store runs whole (run_whole).")
        total = data[0].shape[0] if data else 0
        features = [d.shape[1] for d in data]
        if features != self._scratch_features:
            self.scratch = [np.zeros((self.batch_size, f), np.float32) for f in features]
            self._scratch_features = features
        use_threads(self.threads, self.splits_work)
        return self.module.run_loop(
            store,
            self.consts,
            self.arena,
            *self.scratch,
            *data,
            *results,
            order,
            first,
            count,
            self.batch_size,
            total,
        )

    def run_whole(self, store, data) -> None:
        """One step over `data` as it is, each array a single C-contiguous row (a tape program's whole
        feeds): `run` of one batch without the row order, the copy into scratch or the NaN check, and with
        half the arguments to dispatch (a custom training loop runs two such programs per step)."""
        use_threads(self.threads, self.splits_work)
        self.module.step(store, self.consts, self.arena, *data, 1)


class InterpretedProgram:
    """The reference backend: the same graph, run node by node with numpy."""

    def __init__(self, graph: Graph, layout: ProgramLayout, title: str, threads: int = 1):
        self.graph, self.layout = graph, layout
        self.batch_size = graph.memory.batch_size if graph.memory else 32
        self.rng = np.random.default_rng(make_seed())
        self.from_cache = False
        self._input_nodes = {x.attrs["name"]: x for x in graph.nodes() if x.op == "input"}

    def identity_order(self, total: int) -> np.ndarray:
        return np.arange(total)

    def run_whole(self, store, data) -> None:
        self.run(store, data, self.identity_order(1), 0, 1)

    def run(self, store, data, order, first: int, count: int, results=()) -> int:
        total = data[0].shape[0] if data else 0
        nan_row = -1
        variables = {
            key: store[off : off + int(np.prod(shape, dtype=np.int64))].reshape(shape)
            for key, (off, shape) in self.layout.variables.items()
        }
        if self.layout.outside:  # the last data input holds these variables (see ProgramLayout)
            outside, data = data[-1].reshape(-1), data[:-1]
            for key, (off, shape) in self.layout.outside.items():
                variables[key] = outside[off : off + int(np.prod(shape, dtype=np.int64))].reshape(shape)
        for b in range(first, first + count):
            rows = order[b * self.batch_size : min((b + 1) * self.batch_size, total)]
            n = len(rows)
            inputs = {}
            for name, array in zip(self.layout.inputs[: len(data)], data, strict=True):
                bad = rows[np.isnan(array[rows]).any(axis=1)]
                if len(bad) and nan_row < 0:
                    nan_row = int(bad[0])
                node = self._input_nodes.get(name)
                if node is not None:  # inputs the program never reads are simplified away
                    inputs[name] = array[rows].reshape(node.type.concrete_shape(n))
            ctx = Context(inputs, variables, n, self.rng)
            values = evaluate(self.graph, ctx)
            for k, name in enumerate(self.layout.outputs):
                lo = b * self.batch_size
                results[k][lo : lo + n] = values[self.graph.outputs[name]].reshape(n, -1)
        return nan_row

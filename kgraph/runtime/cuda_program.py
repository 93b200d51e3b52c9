"""The CUDA backend's program: the generated module of `codegen/cuda`, with its state resident on the device.

Resident: the variable store (parameters, gradients, optimizer slots, metric state: one flat array), the
constants, the arena (with the reduction partials after the memory plan's buffers), the batch scratch rows,
the data set, the shuffled order and the cursor. Nothing is allocated inside a step.

A call runs `count` batches: the store goes up only when the host copy changed since the device was last in
step with it (it is compared with a mirror of what the device holds; the programs of one store share its
device copy), the data once per `fit` (the same arrays come back for every call of one fit), the order once
per epoch. Each batch is `gather`, the step's launches, `emit` (predict) and `advance`, all on one stream
without a synchronization; the step of each batch size is recorded as a CUDA graph after its first run and
replayed with one launch (`KGRAPH_CUDA_GRAPHS=0` turns that off). The store comes back once, at the end of
the call, so callbacks and logs see it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import warnings
import weakref

import numpy as np

from kgraph.codegen.cache import load_source
from kgraph.codegen.cpu import ProgramLayout, const_values
from kgraph.codegen.cuda import input_widths, program_source
from kgraph.codegen.cuda_loops import NT
from kgraph.ir.graph import Graph
from kgraph.random import make_seed

_probe: list = []  # the reason found by the first probe ("" when usable)


def import_cuda():
    """`numba.cuda`, with NumPy names that numba-cuda 0.30 still reads (`np.row_stack`, gone in NumPy 2.5)."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    from numba import config as numba_config
    from numba import cuda

    numba_config.CUDA_LOW_OCCUPANCY_WARNINGS = False  # small models launch small grids on purpose
    return cuda


def simulated() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")


def cuda_unavailable_reason() -> str | None:
    """Why the CUDA backend cannot run here (package missing, no driver, no device), or None when it can.

    Under Numba's simulator (`NUMBA_ENABLE_CUDASIM=1`) it can always run, slowly.
    """
    if _probe:
        return _probe[0] or None
    reason = ""
    if importlib.util.find_spec("numba_cuda") is None and not simulated():
        reason = (
            "the numba-cuda package is not installed (install it with pip install 'kgraph[cuda]', "
            "which adds numba-cuda[cu13])"
        )
    else:
        try:
            cuda = import_cuda()
            if not simulated():
                if len(cuda.gpus) == 0:
                    reason = "the CUDA driver found no GPU"
                else:
                    cuda.current_context()
        except Exception as err:  # noqa: BLE001 - the driver's own words say why (no driver, no device...)
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            kind = "no CUDA driver" if "driver" in text.lower() else "CUDA is not usable"
            reason = f"{kind}: {text}"
    _probe.append(reason)
    return reason or None


def _variable_span(graph: Graph, layout: ProgramLayout) -> tuple[int, int]:
    """The store elements [lo, hi) holding every variable the program reads or writes."""
    spans = [
        (layout.variables[st.key][0], layout.variables[st.key][0] + math.prod(layout.variables[st.key][1]))
        for st in graph.memory.storage.values()
        if st.space == "variable"
    ]
    return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else (0, 0)


_memcmp = ctypes.CDLL(None).memcmp
_memcmp.restype = ctypes.c_int
_memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality of two contiguous arrays in one pass, without temporaries (NaNs compare equal)."""
    return a.nbytes == b.nbytes and _memcmp(a.ctypes.data, b.ctypes.data, a.nbytes) == 0


class _DeviceStore:
    """The device copy of one host variable store, shared by every program that runs on that store (fit,
    evaluate and predict of a model; a tape block's gradient program and its update), with a mirror of what
    the device holds: a program uploads only when the host copy changed since the device was last in step."""

    _all: dict = {}  # id(host store) -> (weak reference to it, its _DeviceStore)

    def __init__(self, cuda, host: np.ndarray, stream):
        self.device = cuda.device_array(host.shape, np.float32, stream=stream)
        self.device.copy_to_device(host, stream=stream)
        self.mirror = host.copy()

    @classmethod
    def of(cls, cuda, host: np.ndarray, stream) -> _DeviceStore:
        entry = cls._all.get(id(host))
        if entry is not None and entry[0]() is host and entry[1].device.shape == host.shape:
            return entry[1]
        for key in [k for k, (ref, _) in cls._all.items() if ref() is None]:
            del cls._all[key]
        found = cls(cuda, host, stream)
        cls._all[id(host)] = (weakref.ref(host), found)
        return found


class _SimulatedLaunch:
    """A simulated kernel with the grid it was configured with (`kernel[grid, block]` returns the kernel)."""

    def __init__(self, launch):
        self.launch = launch
        self.config = (launch.grid_dim, launch.block_dim) if hasattr(launch, "grid_dim") else None

    def __call__(self, *args):
        if self.config is None:  # an opaque op's host function configures its kernels itself
            return self.launch(*args)
        return self.launch[self.config](*args)


class CudaProgram:
    """Runs one compiled graph on the GPU; the same interface as `CompiledProgram`."""

    def __init__(self, graph: Graph, layout: ProgramLayout, title: str, threads: int = 1):
        self.cuda = cuda = import_cuda()
        self.graph, self.layout = graph, layout
        self.batch_size = graph.memory.batch_size
        self.source, arena_size = program_source(graph, layout, title, cache=not simulated())
        self.module = load_source(self.source)
        self.stream = cuda.stream()
        self.arena = cuda.to_device(np.zeros(arena_size, np.float32), stream=self.stream)
        self.consts = cuda.to_device(const_values(graph), stream=self.stream)
        self.cursor = cuda.to_device(np.array([0, 0, make_seed()], np.int64), stream=self.stream)
        self.widths = input_widths(graph, layout)
        self.writes_store = any(n.op == "assign" for n in graph.nodes())
        self._span = _variable_span(graph, layout)
        self.from_cache = False
        self._identity = np.arange(self.batch_size)
        self._store = None  # the device copy of the store (a _DeviceStore's array)
        self._shared: _DeviceStore | None = None
        self._data: list = []  # device buffers (rows, features), grown as needed
        self._data_sources: list = []  # the host arrays they hold
        self._scratch: list = []
        self._scratch_widths: list[int] = []
        self._order: list = []  # one device buffer: the index order of the rows
        self._order_source = None
        self._results: list = []
        self._steps: dict = {}  # n -> [(launch, args)] for one batch
        self._graphs: dict = {}  # n -> a recorded CUDA graph of those launches
        self._seen: set = set()
        self._use_graphs = not simulated() and os.environ.get("KGRAPH_CUDA_GRAPHS", "1") != "0"
        self._cursor_host = np.zeros(1, np.int64)
        self._slices: dict = {}

    def identity_order(self, total: int) -> np.ndarray:
        if len(self._identity) < total:
            self._identity = np.arange(max(total, 2 * len(self._identity)))
        return self._identity

    def run_whole(self, store, data) -> None:
        """One step over `data`, each array a single row (a tape program's whole feeds). A tape passes new
        values in the same arrays (its pooled gradient rows), so whole runs always upload their data."""
        self._data_sources = []
        self.run(store, data, self.identity_order(1), 0, 1)

    # --- device state ------------------------------------------------------------------------------
    def _invalidate(self) -> None:
        self._steps.clear()
        self._graphs.clear()

    def _sync_store_in(self, store: np.ndarray) -> None:
        """Uploads the part of the store this program uses, unless it is what the device holds already."""
        shared = self._shared = _DeviceStore.of(self.cuda, store, self.stream)
        if shared.device is not self._store:  # the launch plans and graphs hold the old address
            self._store = shared.device
            self._invalidate()
        lo, hi = self._span
        if not _same_bytes(store[lo:hi], shared.mirror[lo:hi]):
            self._head(self._store, lo, hi).copy_to_device(store[lo:hi], stream=self.stream)
            shared.mirror[lo:hi] = store[lo:hi]

    def _sync_store_out(self, store: np.ndarray) -> None:
        lo, hi = self._span
        mirror = self._shared.mirror[lo:hi]
        self._head(self._store, lo, hi).copy_to_host(mirror, stream=self.stream)
        self.stream.synchronize()
        store[lo:hi] = mirror

    def _head(self, buffer, lo: int, hi: int):
        """`buffer[lo:hi]`, kept: slicing a device array costs tens of microseconds of Python."""
        key = (id(buffer), lo, hi)
        found = self._slices.get(key)
        if found is None or found[0] is not buffer:
            if len(self._slices) > 64:
                self._slices.clear()
            found = self._slices[key] = (buffer, buffer[lo:hi])
        return found[1]

    def _buffer(self, buffers: list, k: int, rows: int, cols: int, dtype=np.float32):
        """The k-th persistent device buffer of at least `rows` x `cols`; a new one invalidates the plans."""
        while len(buffers) <= k:
            buffers.append(None)
        buf = buffers[k]
        wanted = (cols,) if cols is not None else ()
        if buf is None or buf.shape[0] < rows or buf.shape[1:] != wanted:
            shape = (max(rows, 1), *wanted)
            buf = self.cuda.device_array(shape, dtype, stream=self.stream)
            buffers[k] = buf
            self._invalidate()
        return buf

    def _sync_data(self, data) -> None:
        same = len(data) == len(self._data_sources) and all(
            a is b for a, b in zip(data, self._data_sources, strict=True)
        )
        if same:
            return  # the arrays of this fit are on the device already
        for k, array in enumerate(data):
            buf = self._buffer(self._data, k, array.shape[0], array.shape[1])
            self._head(buf, 0, array.shape[0]).copy_to_device(np.ascontiguousarray(array), stream=self.stream)
        self._data_sources = list(data)

    def _sync_order(self, order: np.ndarray, total: int) -> None:
        if order is self._order_source:
            return
        buf = self._buffer(self._order, 0, len(order), None, np.int64)
        order = np.ascontiguousarray(order, dtype=np.int64)
        self._head(buf, 0, len(order)).copy_to_device(order, stream=self.stream)
        self._order_source = order

    # --- steps -------------------------------------------------------------------------------------
    def _launches(self, n: int, stream, predict: bool) -> list:
        """Every launch of one batch of `n` rows, configured for `stream` (a stream or a graph builder)."""
        m = self.module
        scratch = [m.view(buf, 0, (n, w)) for buf, w in zip(self._scratch, self._scratch_widths, strict=True)]
        entries = []
        if self._data:
            args = (self.cursor, self._order[0], *self._data, *scratch, n)
            total = n * max(sum(self.widths), 1)
            entries.append((m.gather[m.blocks(total, NT), NT, stream], args))
        entries += m.plan(n, self._store, self.consts, self.arena, self._scratch, self.cursor, stream)
        if predict:
            produced = m.emit_views(n, self._store, self.consts, self.arena, self._scratch)
            args = (self.cursor, *produced, *self._results, n)
            entries.append((m.emit[m.blocks(n * max(m.EMIT_WIDTH, 1), NT), NT, stream], args))
        entries.append((m.advance[1, 1, stream], (self.cursor, self.batch_size)))
        if simulated():  # the simulator configures a kernel in place: keep each entry's own grid
            entries = [(_SimulatedLaunch(launch), args) for launch, args in entries]
        return entries

    def _run_step(self, n: int, predict: bool) -> None:
        key = (n, predict)
        graph = self._graphs.get(key)
        if graph is not None:
            graph.launch(self._core_stream)
            return
        if self._use_graphs and key in self._seen:
            try:
                graph = self._record(n, predict)
            except Exception as err:  # noqa: BLE001 - any failure to record falls back to plain launches
                warnings.warn(
                    f"kgraph: CUDA graphs are off for this program ({err}); launching kernels one by one",
                    stacklevel=2,
                )
                self._use_graphs = False
                self.stream = self.cuda.stream()
                self._invalidate()
            else:
                self._graphs[key] = graph
                graph.launch(self._core_stream)
                return
        steps = self._steps.get(key)
        if steps is None:
            steps = self._steps[key] = self._launches(n, self.stream, predict)
        for launch, args in steps:
            launch(*args)
        self._seen.add(key)

    def _record(self, n: int, predict: bool):
        from numba.cuda.cudadrv.driver import _to_core_stream

        self._core_stream = _to_core_stream(self.stream)
        builder = self._core_stream.create_graph_builder()
        builder.begin_building()
        try:
            for launch, args in self._launches(n, builder, predict):
                launch(*args)
        finally:
            builder.end_building()
        return builder.complete()

    def run(self, store, data, order, first: int, count: int, results=()) -> int:
        """Runs `count` batches from batch `first`; returns the first data row holding a NaN, or -1."""
        total = data[0].shape[0] if data else 0
        if results:  # predict checks its rows for NaN (fit and evaluate validated their data up front)
            for array in data:
                bad = np.flatnonzero(np.isnan(array).any(axis=1))
                if len(bad):
                    return int(bad[0])
        self._sync_store_in(store)
        self._sync_data(data)
        if data:
            self._sync_order(order, total)
            for k, array in enumerate(data):  # flat: the plan views them as (n, features)
                self._buffer(self._scratch, k, self.batch_size * array.shape[1], None)
            self._scratch_widths = [array.shape[1] for array in data]
        for k, array in enumerate(results):
            self._buffer(self._results, k, total, array.shape[1])
        self._cursor_host[0] = first * self.batch_size
        self._head(self.cursor, 0, 1).copy_to_device(self._cursor_host, stream=self.stream)
        for b in range(first, first + count):
            n = min(self.batch_size, total - b * self.batch_size) if data else self.batch_size
            self._run_step(n, bool(results))
        for buf, array in zip(self._results, results, strict=False):
            self._head(buf, 0, array.shape[0]).copy_to_host(array, stream=self.stream)
        if self.writes_store:
            self._sync_store_out(store)
        else:
            self.stream.synchronize()
        return -1

"""codegen/threads.py: the GEMM split across Numba's threads (against numpy), the choice of thread pool per
program, and that kernels calling the thread count stay cacheable."""

import ctypes
import os
import re
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

from kgraph.codegen import blas, threads

needs_two = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")


def _blas_threads() -> int:
    library = ctypes.CDLL(blas.BLAS_PATH)
    getter = next(
        getattr(library, s)
        for s in ("scipy_openblas_get_num_threads", "openblas_get_num_threads")
        if hasattr(library, s)
    )
    return getter()


@needs_two
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("split", ["rows", "columns", "depth", "chosen"])
def test_split_gemm_matches_numpy(ta, tb, split):
    """C = op(A) @ op(B) + beta * C on matrices inside larger buffers (offsets, leading dimensions), split
    three ways into uneven parts, or as sgemm_split chooses."""
    rng = np.random.default_rng(0)
    m, n, k, pad = 50, 40, 70, 3
    a = rng.normal(size=(k, m + pad) if ta else (m, k + pad)).astype(np.float32)
    b = rng.normal(size=(n, k + pad) if tb else (k, n + pad)).astype(np.float32)
    c = rng.normal(size=(m, n + pad)).astype(np.float32)
    op_a = a[:, 1 : m + 1].T if ta else a[:, 1 : k + 1]
    op_b = b[:, 1 : k + 1].T if tb else b[:, 1 : n + 1]
    expected = op_a.astype(np.float64) @ op_b + 0.5 * c[:, 2 : n + 2]
    threads.use_threads(2, split=True)
    args = (
        ta,
        tb,
        m,
        n,
        k,
        a.ravel(),
        1,
        a.shape[1],
        b.ravel(),
        1,
        b.shape[1],
        np.float32(0.5),
        c.ravel(),
        2,
    )
    if split == "chosen":
        threads.sgemm_split(*args, c.shape[1])
    else:
        axis = {"rows": threads.BY_ROWS, "columns": threads.BY_COLUMNS, "depth": threads.BY_DEPTH}[split]
        threads._sgemm_parts(*args, c.shape[1], 3, axis)
    np.testing.assert_allclose(c[:, 2 : n + 2], expected, rtol=1e-4, atol=1e-4)


@needs_two
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("n, k", [(600, 300), (40, 70)])
def test_one_row_products_match_numpy(ta, tb, n, k):
    """A one-row product runs as sgemv (the row strided when A is transposed), split along the shared
    dimension across the threads from SPLIT_MIN_GEMV entries of B (600 x 300), on one thread below
    (40 x 70)."""
    rng = np.random.default_rng(3)
    pad = 3
    a = rng.normal(size=(k, 1 + pad) if ta else (1, k + pad)).astype(np.float32)
    b = rng.normal(size=(n, k + pad) if tb else (k, n + pad)).astype(np.float32)
    c = rng.normal(size=(1, n + pad)).astype(np.float32)
    before = c.copy()
    op_a = a[:, 1:2].T if ta else a[:, 1 : k + 1]
    op_b = b[:, 1 : k + 1].T if tb else b[:, 1 : n + 1]
    expected = op_a.astype(np.float64) @ op_b + 0.5 * c[:, 2 : n + 2]
    assert (k * n >= threads.SPLIT_MIN_GEMV) == (n == 600)
    threads.use_threads(2, split=True)
    flat_a, flat_b, flat_c = a.ravel(), b.ravel(), c.ravel()
    lda, ldb, ldc = a.shape[1], b.shape[1], c.shape[1]
    threads.sgemm_split(ta, tb, 1, n, k, flat_a, 1, lda, flat_b, 1, ldb, np.float32(0.5), flat_c, 2, ldc)
    np.testing.assert_allclose(c[:, 2 : n + 2], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(c[:, :2], before[:, :2])  # nothing written outside the row's n entries
    np.testing.assert_array_equal(c[:, n + 2 :], before[:, n + 2 :])


@needs_two
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("shape", [(600, 40, 200), (40, 600, 200), (24, 40, 5000)])
def test_matmul_of_2d_arrays_matches_numpy(ta, shape):
    """The GEMM kernels' entry (2-D arrays, as the generated kernels pass them), split three ways."""
    m, n, k = shape
    rng = np.random.default_rng(1)
    a = rng.normal(size=(k, m) if ta else (m, k)).astype(np.float32)
    b = rng.normal(size=(k, n)).astype(np.float32)
    out = np.full((m, n), np.nan, np.float32)
    assert m * n * k >= threads.SPLIT_MIN_MNK
    threads.use_threads(2, split=True)
    threads.matmul(ta, False, a, b, out)
    expected = (a.T if ta else a).astype(np.float64) @ b
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@needs_two
def test_a_program_uses_one_pool_at_a_time():
    """A program with split kernels: two Numba threads and BLAS on one; one without: BLAS on two (and no
    kernel that would use Numba's threads, which codegen decides from the same graph)."""
    threads.use_threads(2, split=True)
    assert (numba.get_num_threads(), _blas_threads()) == (2, 1)
    threads.use_threads(2, split=False)
    assert _blas_threads() == 2


@needs_two
def test_a_scan_too_small_to_split_runs_its_walk_on_one_blas_thread(monkeypatch):
    """Under 64 rows a recurrent program keeps OpenBLAS's two threads for its input projection; its walk
    sets OpenBLAS to one thread (80 small step products would each pay a thread handoff) and gives the
    count back after."""
    import kgraph

    monkeypatch.setattr(kgraph.config, "num_threads", lambda: 2)
    model = kgraph.Sequential([kgraph.Input((5, 3)), kgraph.layers.LSTM(4), kgraph.layers.Dense(1)])
    model.predict(np.ones((8, 5, 3), np.float32), verbose=0)
    (program,) = model._programs.values()
    assert not program.splits_work and "prange(" not in program.source
    walk = program.source[program.source.index("_rnn_scan(") :]
    assert (
        walk.index("set_blas_threads_to(1)")
        < walk.index("sgemm(")
        < walk.index("set_blas_threads_to(threads)")
        < walk.index("\ndef ")  # the walk is the kernel itself: it ends before the next function
    )
    assert _blas_threads() == 2


@needs_two
def test_programs_with_large_products_split_and_others_keep_openblas(monkeypatch):
    """Training an MNIST-sized MLP at batch 128 (products of 51M multiply-adds) runs on Numba's threads and
    splits its Adam update, as does predicting at the default batch size (32 rows: 12.8M); a model whose
    products stay under SPLIT_MIN_MNK keeps OpenBLAS's threads, which split its matrix-vector products; all
    give numpy's numbers."""
    import kgraph

    monkeypatch.setattr(kgraph.config, "num_threads", lambda: 2)
    rng = np.random.default_rng(2)
    x, y = rng.random((128, 784), dtype=np.float32), rng.random((128, 10), dtype=np.float32)
    for hidden, splits in ((512, True), (32, False)):  # 32 rows x 784 x 32: 0.8M multiply-adds
        model = kgraph.Sequential([kgraph.Input((784,)), kgraph.layers.Dense(hidden, activation="relu"),
                                   kgraph.layers.Dense(10)])  # fmt: skip
        model.compile(optimizer="adam", loss="mse")
        if splits:
            model.train_on_batch(x, y)
            (train,) = [p for key, p in model._programs.items() if key[0] == "train"]
            assert train.splits_work and "SPLITS_WORK = True" in train.source
            assert re.search(r"parallel=True.*\ndef k\d+_add_pow_sub_sqrt", train.source), train.source
        one = model.predict(x[:1], verbose=0)
        (predict,) = [p for key, p in model._programs.items() if key[0] == "predict"]
        assert predict.splits_work == splits and f"SPLITS_WORK = {splits}" in predict.source
        kernel, bias, kernel2, bias2 = model.get_weights()
        expected = np.maximum(x[:1] @ kernel + bias, 0) @ kernel2 + bias2
        np.testing.assert_allclose(one, expected, rtol=1e-5, atol=1e-5)
        assert _blas_threads() == (1 if splits else 2)


@needs_two
def test_a_one_row_program_splits_when_its_matrices_are_large(monkeypatch):
    """A program compiled for one row (predict_on_batch's first call) splits when a matrix-vector product
    streams SPLIT_MIN_GEMV entries or more (784 x 512), and keeps OpenBLAS's threads under (784 x 32)."""
    import kgraph

    monkeypatch.setattr(kgraph.config, "num_threads", lambda: 2)
    x = np.random.default_rng(4).random((1, 784), dtype=np.float32)
    for hidden, splits in ((512, True), (32, False)):
        model = kgraph.Sequential([kgraph.Input((784,)), kgraph.layers.Dense(hidden, activation="relu")])
        out = model.predict_on_batch(x)
        (predict,) = model._programs.values()
        assert predict.batch_size == 1 and predict.splits_work == splits
        kernel, bias = model.get_weights()
        np.testing.assert_allclose(out, np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-5)


@needs_two
def test_a_short_last_batch_of_a_splitting_program_counts_its_rows(monkeypatch):
    """A splitting program (its scan runs 64 rows) whose last batch has two rows runs its split loops as one
    block on the caller; the stores after the blocks still run (here the loss's row count, fused after the
    input projection's bias): evaluate's loss is the mean over all 66 rows, as numpy computes it from
    predict's probabilities."""
    import kgraph

    monkeypatch.setattr(kgraph.config, "num_threads", lambda: 2)
    rng = np.random.default_rng(5)
    x = rng.integers(1, 100, size=(66, 80)).astype(np.float32)
    y = rng.integers(0, 2, size=(66, 1)).astype(np.float32)
    model = kgraph.Sequential([kgraph.Input((80,)), kgraph.layers.Embedding(100, 16), kgraph.layers.LSTM(64),
                               kgraph.layers.Dense(1, activation="sigmoid")])  # fmt: skip
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    loss = model.evaluate(x, y, batch_size=64, verbose=0)
    (test,) = [p for key, p in model._programs.items() if key[0] == "test"]
    assert test.splits_work and re.search(r"prange\(parts\)(.*\n)+    a\d+\[0\] = ", test.source)
    p = np.clip(model.predict(x, verbose=0).astype(np.float64), 1e-7, 1 - 1e-7)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_a_recurrent_program_loads_from_the_disk_cache(tmp_path):
    """Kernels that read the thread count call it by symbol: Numba's own `get_num_threads` holds a ctypes
    pointer, and every function calling it (up to the step and the loop) would compile in every process."""
    script = textwrap.dedent("""
        import numpy as np, kgraph
        model = kgraph.Sequential([kgraph.Input((5, 3)), kgraph.layers.LSTM(4), kgraph.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.train_on_batch(np.ones((64, 5, 3), np.float32), np.ones((64, 1), np.float32))
        program = next(p for p in model._programs.values() if hasattr(p, "module"))
        assert program.splits_work and "prange(parts)" in program.source
        print(int(program.from_cache))
    """)
    env = {**os.environ, "KGRAPH_CACHE_DIR": str(tmp_path), "PYTHONPATH": os.getcwd()}
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout.split()[-1] == "0", runs[0].stderr
    assert runs[1].stdout.split()[-1] == "1", runs[1].stderr
    assert "Cannot cache" not in runs[0].stderr, runs[0].stderr


@needs_two
def test_large_loops_of_a_splitting_program_run_in_blocks_one_per_thread():
    """In a program that splits its work (here its 64 x 1200 x 1100 product does), a loop over many rows
    runs in blocks of rows (a GEMM's epilogue too), and a one-row loop over many columns (an optimizer's
    update is one) in blocks of columns, one block per Numba thread, its prologue scalars computed once
    before; a stack of products runs each through the split GEMM; the results are numpy's, for 64 rows and
    for one (where each loop's single block runs on the caller)."""
    from kgraph import ops
    from kgraph.codegen.cpu import ProgramLayout
    from kgraph.ir.builder import Sym, emit, tracing
    from kgraph.ir.graph import Graph
    from kgraph.passes.pipeline import run_pipeline
    from kgraph.runtime.program import CompiledProgram
    from kgraph.runtime.store import VariableStore
    from kgraph.variables import Variable, order_writes_after_reads

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 1200)).astype(np.float32)  # 76,800 elements: over SPLIT_MIN_ELEMENTS
    p = rng.random((64, 1), dtype=np.float32)
    row = rng.normal(size=(70000,)).astype(np.float32)
    table = np.arange(15.0, dtype=np.float32).reshape(5, 3)
    w = rng.normal(size=(1200, 1100)).astype(np.float32) / 30.0
    bias = rng.normal(size=(1100,)).astype(np.float32)
    result = Variable(np.zeros(70000, np.float32), name="result")
    graph = Graph()
    with tracing(graph):
        a = Sym(graph, graph.add("input", name="x", shape=(None, 1200), dtype="float32"))
        b = Sym(graph, graph.add("input", name="p", shape=(None, 1), dtype="float32"))
        graph.outputs["rows"] = (ops.tanh(a) * 2.0 + a).id
        graph.outputs["gathered"] = ops.take(table, ops.floor(b[:, 0] * 5.0)).id  # an opaque kernel
        graph.outputs["product"] = ops.relu(ops.matmul(a, w) + bias).id  # 70,400 elements
        picks = ops.floor(b[:, 0] * 2000.0)
        graph.outputs["scattered"] = emit("scatter_add", a[:, :40], picks, rows=2000).id  # 80,000 zeroed
        stack = ops.reshape(a, (-1, 40, 30))
        graph.outputs["stacked"] = ops.matmul(stack, ops.transpose(stack, (0, 2, 1))).id  # opaque
        result.assign(row * ops.sqrt(ops.sqrt(ops.sum(a * a))) + 1.0)
    order_writes_after_reads(graph)
    store = VariableStore([result])
    layout = ProgramLayout(store.layout, ["x", "p"], list(graph.outputs))
    program = CompiledProgram(run_pipeline(graph, 64), layout, "test", threads=2)
    assert program.splits_work and "SPLITS_WORK = True" in program.source
    assert re.search(r"def k\d+_batch_matmul\(.*\n.*\n        sgemm_split\(", program.source), program.source
    assert "(hi - lo, C))" in program.source and "(1, hi - lo))" in program.source, program.source
    assert re.search(r"parallel=True.*\ndef k\d+_matmul_add_relu\(", program.source), program.source
    outputs = [np.zeros((64, width), np.float32) for width in (1200, 3, 1100, 80000, 1600)]
    for _ in range(2):  # the second run finds the first's sums where it must zero
        program.run(store.array, [x, p], np.arange(64), 0, 1, outputs)
    np.testing.assert_allclose(outputs[2], np.maximum(x @ w + bias, 0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(outputs[0], np.tanh(x) * 2.0 + x, rtol=1e-5, atol=1e-6)
    scattered = np.zeros((2000, 40), np.float32)
    np.add.at(scattered, np.floor(p[:, 0] * 2000.0).astype(int), x[:, :40])
    np.testing.assert_allclose(outputs[3][0].reshape(2000, 40), scattered, rtol=1e-6)
    assert re.search(r"parallel=True.*\ndef k\d+_scatter_add\(", program.source), program.source
    stack = x.reshape(64, 40, 30).astype(np.float64)
    products = (stack @ stack.transpose(0, 2, 1)).reshape(64, -1)
    np.testing.assert_allclose(outputs[4], products, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(outputs[1], table[np.floor(p[:, 0] * 5.0).astype(int)])
    expected = row * np.sqrt(np.sqrt(np.sum(x.astype(np.float64) ** 2))) + 1.0
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-5)
    # One row: every block loop has a single block, which runs on the caller (no parallel region).
    assert program.source.count("    if parts == 1:\n") == program.source.count("prange(parts)")
    assert "        return\n" not in program.source  # lines after the blocks (a store, a scatter) still run
    outputs = [np.zeros((1, width), np.float32) for width in (1200, 3, 1100, 80000, 1600)]
    program.run(store.array, [x[:1], p[:1]], np.arange(1), 0, 1, outputs)
    np.testing.assert_allclose(outputs[2], np.maximum(x[:1] @ w + bias, 0), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(outputs[0], np.tanh(x[:1]) * 2.0 + x[:1], rtol=1e-5, atol=1e-6)
    scattered = np.zeros((2000, 40), np.float32)
    np.add.at(scattered, np.floor(p[:1, 0] * 2000.0).astype(int), x[:1, :40])
    np.testing.assert_allclose(outputs[3][0].reshape(2000, 40), scattered, rtol=1e-6)
    np.testing.assert_allclose(outputs[4], products[:1], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(outputs[1], table[np.floor(p[:1, 0] * 5.0).astype(int)])
    expected = row * np.sqrt(np.sqrt(np.sum(x[:1].astype(np.float64) ** 2))) + 1.0
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-5)

"""The compiled CPU backend against the numpy interpreter of the same graph, float32 throughout, and the disk
cache across processes."""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kgraph import ops
from kgraph.codegen.cpu import ProgramLayout
from kgraph.codegen.kernel_symbols import Kernel
from kgraph.ir.builder import Sym, tracing
from kgraph.ir.graph import Graph
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.program import CompiledProgram, InterpretedProgram
from kgraph.runtime.store import VariableStore
from kgraph.testing import run_traced
from kgraph.variables import Variable, order_writes_after_reads
from tests.graphs import mlp_training_graph


def _programs(sizes, batch_size, l2=0.0):
    graph, weights, inputs = mlp_training_graph(sizes=sizes, l2=l2)
    store = VariableStore(weights)
    planned = run_pipeline(graph, batch_size)
    layout = ProgramLayout(store.layout, inputs, [])
    return store, CompiledProgram(planned, layout, "test"), InterpretedProgram(planned, layout, "test")


@pytest.fixture(scope="module")
def mlp():
    return _programs((16, 12, 5), 8, l2=0.01)


def test_training_steps_match_the_interpreter(mlp):
    store, compiled, interpreted = mlp
    rng = np.random.default_rng(1)
    x = rng.random((21, 16), dtype=np.float32)  # 21 rows: the last batch is partial
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 21)]
    order = rng.permutation(21)
    start = store.array.copy()
    compiled.run(store.array, [x, y], order, 0, 3)
    after_compiled = store.array.copy()
    store.array[:] = start
    interpreted.run(store.array, [x, y], order, 0, 3)
    np.testing.assert_allclose(after_compiled, store.array, rtol=1e-5, atol=1e-7)
    assert np.abs(after_compiled - start).max() > 1e-4, "the step must change the weights"


def test_compiled_code_is_float32_throughout(tmp_path, monkeypatch):
    """No float64 in any signature, no float widened to double anywhere, no double arithmetic in kernels.

    (The step and loop contain Numba's own index arithmetic for slicing, which uses doubles internally.)
    A fresh cache folder makes Numba compile, so every kernel's signature and LLVM IR are there to inspect.
    """
    monkeypatch.setenv("KGRAPH_CACHE_DIR", str(tmp_path))
    store, compiled, _ = _programs((10, 6, 4), 4)
    x, y = np.ones((4, 10), np.float32), np.eye(4, dtype=np.float32)
    compiled.run(store.array, [x, y], np.arange(4), 0, 1)
    checked = 0
    for name in dir(compiled.module):
        fn = getattr(compiled.module, name)
        fn = fn.dispatcher if isinstance(fn, Kernel) else fn
        if not getattr(getattr(fn, "py_func", None), "__module__", "").startswith("kg_"):
            continue  # an imported helper: other tests may have called it from Python (boxing doubles)
        for signature in getattr(fn, "signatures", []):
            assert "float64" not in str(signature), (name, signature)
            llvm = fn.inspect_llvm(signature)
            assert "fpext float" not in llvm, name
            if name.startswith("k"):
                assert re.search(r"\bdouble\b", llvm) is None, name
            checked += 1
    assert checked >= 4


def test_the_loop_calls_its_kernels_by_symbol(tmp_path, monkeypatch):
    """The loop calls each kernel's own compiled code (codegen/kernel_symbols.py): no kernel is linked into
    it to be optimized and emitted again; a second process defines the symbols before loading the loop."""
    monkeypatch.setenv("KGRAPH_CACHE_DIR", str(tmp_path))
    store, compiled, interpreted = _programs((10, 6, 4), 4)
    x, y = np.ones((4, 10), np.float32), np.eye(4, dtype=np.float32)
    compiled.run(store.array, [x, y], np.arange(4), 0, 1)
    (signature,) = compiled.module.run_loop.signatures
    llvm = compiled.module.run_loop.inspect_llvm(signature)
    called = set(re.findall(r"^declare .*@(kgraph_kg_\w+)\(", llvm, re.M))
    kernels = re.findall(r"^ +(k\d+\w*)\(", compiled.source.split("def run_loop(")[1], re.M)
    assert len(called) == len(kernels) >= 4, (called, kernels)
    assert not re.search(r"^define .*kg_kernel", llvm, re.M)


def test_generated_source_is_readable(mlp):
    _, compiled, _ = mlp
    source = compiled.source
    assert "def k0_matmul_add_relu(" in source and "def step(" in source and "def run_loop(" in source
    assert "sgemm(" in source


def test_a_changed_helper_makes_a_new_module(tmp_path, monkeypatch):
    """Generated code links the helpers it imports (codegen/threads.py, blas.py, ...) into its own cached
    machine code, and Numba's cache checks only the generated file: their digest is in the source, so a
    changed helper changes the module's name."""
    from kgraph.codegen import cache, cpu

    helper = tmp_path / "helper.py"
    helper.write_text("X = 1\n")
    module = type(sys)("helper")
    module.__file__ = str(helper)
    before = cache.helpers_digest(module)
    helper.write_text("X = 2\n")
    assert cache.helpers_digest(module) != before
    graph, weights, inputs = mlp_training_graph(sizes=(4, 3), l2=0.0)
    planned = run_pipeline(graph, 2)
    layout = ProgramLayout(VariableStore(weights).layout, inputs, [])
    sources = cpu.program_source(planned, layout, "t")
    monkeypatch.setattr(cpu, "_HELPERS", before)
    again = cpu.program_source(planned, layout, "t")
    for old, new in zip([sources.module, *sources.kernels], [again.module, *again.kernels], strict=True):
        assert cache.module_name(new) != cache.module_name(old)


def test_second_process_compiles_nothing(tmp_path):
    script = textwrap.dedent("""
        import numpy as np
        from tests.codegen.test_cpu import _programs
        store, compiled, _ = _programs((6, 4, 3), 4)
        x = np.ones((4, 6), np.float32); y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
        compiled.run(store.array, [x, y], np.arange(4), 0, 1)
        stats = compiled.module.run_loop.stats
        print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
    """)
    env = {**os.environ, "KGRAPH_CACHE_DIR": str(tmp_path), "PYTHONPATH": os.getcwd()}
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        for _ in range(2)
    ]
    first, second = (r.stdout.split()[-2:] for r in runs)
    assert first == ["0", "1"], runs[0].stdout + runs[0].stderr
    assert second == ["1", "0"], runs[1].stdout + runs[1].stderr


def test_programs_holding_the_same_kernel_share_its_compiled_code():
    """Each kernel is a module named by the hash of its text, which names no layer and no value id: a second
    model of the same shapes (other layer names, a graph numbered from elsewhere, so another program
    module) binds the first's compiled kernels instead of compiling them again."""
    import kgraph

    rng = np.random.default_rng(4)
    x = rng.normal(size=(7, 6)).astype(np.float32)
    weights = [rng.normal(size=s).astype(np.float32) for s in [(6, 5), (5,), (5, 3), (3,)]]
    expected = np.tanh(x @ weights[0] + weights[1]) @ weights[2] + weights[3]
    programs = []
    for name in ("first", "second"):
        inputs = kgraph.Input((6,))
        hidden = kgraph.layers.Dense(5, activation="tanh", name=f"{name}_hidden")
        outputs = kgraph.layers.Dense(3, name=f"{name}_out")
        if name == "first":
            model = kgraph.Model(inputs, outputs(hidden(inputs)))
        else:  # an output traced first: the values of the same two layers get other ids
            doubled = kgraph.layers.Rescaling(2.0)(inputs)
            model = kgraph.Model(inputs, [doubled, outputs(hidden(inputs))])
        model.set_weights(weights)
        predicted = model.predict(x, verbose=0)
        predicted = predicted[1] if name == "second" else predicted
        np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)
        (program,) = model._programs.values()
        programs.append(program)
    first, second = programs
    assert first.module is not second.module and "second_hidden" in second.source
    numbered = [re.findall(r"# %(\d+) = matmul", p.source) for p in programs]
    assert len(numbered[0]) == 2 and numbered[0] != numbered[1], numbered

    def kernels(program):  # the kernels bound in the program's module (not their helpers, `..._rows`)
        defined = re.findall(r"^def (k\d+\w*)\(", program.source, re.M)
        return [getattr(program.module, k).dispatcher for k in defined if hasattr(program.module, k)]

    assert len(kernels(first)) == 2 and all(k in kernels(second) for k in kernels(first)), second.source
    for kernel in kernels(first):
        with open(kernel.py_func.__code__.co_filename) as f:
            text = f.read()
        assert "first_" not in text and "%" not in text and "k0_" not in text, text


REGRESSIONS = {
    "whole reduction of an input": (lambda a, b: ops.sum(a), "x"),
    "output equal to the input": (lambda a, b: a * 1.0, "x"),
    "pairwise rank-3 broadcasting": (
        lambda a, b: ops.sum(ops.greater(ops.expand_dims(a, -2), ops.expand_dims(a, -1)), axis=-1),
        "x",
    ),
    "axis-0 reduction of a rank-3 value": (
        lambda a, b: ops.sum(ops.expand_dims(a, -1) * np.arange(3.0), axis=0),
        "x",
    ),
    "reduction over a unit axis then the rows": (
        lambda a, b: ops.sum(ops.expand_dims(a - ops.max(a, -1, keepdims=True), -1) * 2.0, axis=(0, 1)),
        "x",
    ),
    "masked select must not reassociate": (
        lambda a, b: a * ops.greater(a, 0.5) + -1e10 * (1.0 - ops.greater(a, 0.5)),
        "x",
    ),
    "weights after a size-1 reduction": (lambda a, b: ops.sum(ops.sum(b * 2.0, axis=-1) * a[:, 0]), "xp"),
    "an opaque gather by computed indices": (
        lambda a, b: ops.take(np.arange(15.0).reshape(5, 3), ops.floor(b[:, 0] * 5.0)) * a[:, :3],
        "xp",
    ),
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_compiled_equals_eager_on_awkward_shapes(name):
    fn, _ = REGRESSIONS[name]
    rng = np.random.default_rng(0)
    x, p = rng.random((8, 5), dtype=np.float32), rng.random((8, 1), dtype=np.float32)
    expected = fn(x, p)
    for backend in ("numpy", "cpu"):
        got = run_traced(fn, x, p, backend=backend)
        np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=backend)


@pytest.mark.parametrize("depth,width", [(512, 256), (9, 32), (64, 1)])
@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_one_row_products_match_numpy(batch_size, depth, width):
    """A batch of one row takes sgemv, larger batches sgemm; batch size 2 over 3 rows runs both."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, depth)).astype(np.float32)
    w = rng.normal(size=(depth, width)).astype(np.float32)
    b = rng.normal(size=(width,)).astype(np.float32)
    got = run_traced(lambda x: ops.relu(ops.matmul(x, w) + b), x, backend="cpu", batch_size=batch_size)
    np.testing.assert_allclose(got, np.maximum(x @ w + b, 0), rtol=1e-5, atol=1e-4)


def test_wide_column_loops_read_their_count_at_run_time(mlp):
    """A literal count of 8+ columns let LLVM unroll the loop into scalar code; narrow rows keep theirs."""
    source = mlp[1].source
    assert re.search(r"C = [ao]\d+\.shape\[[01]\]\n", source), source  # the 12-unit layer
    assert "    C = 5\n" in source  # the 5 outputs


def test_variables_outside_the_store_are_written_into_the_row_each_run_passes():
    """`ProgramLayout.outside` (a gradient tape's result block): the variable lives in the last data input,
    where the compiled program and the interpreter write it, leaving the store and the rest of the row be."""
    rng = np.random.default_rng(7)
    w = Variable(rng.standard_normal((2, 3)).astype(np.float32), name="w")
    result = Variable(np.zeros((4, 3), np.float32), name="result")
    graph = Graph()
    with tracing(graph):
        x = Sym(graph, graph.add("input", name="x", shape=(4, 2), dtype="float32"))
        result.assign(ops.relu(x @ w))
    order_writes_after_reads(graph)
    store = VariableStore([w])
    layout = ProgramLayout(store.layout, ["x", "result_block"], [], {result.key: (5, (4, 3))})
    planned = run_pipeline(graph, 1)
    x_value = rng.standard_normal((4, 2)).astype(np.float32)
    expected = np.maximum(x_value @ w.numpy(), 0)
    weights = store.array.copy()
    for program in (CompiledProgram(planned, layout, "test"), InterpretedProgram(planned, layout, "test")):
        row = np.full((1, 20), -1.0, np.float32)
        program.run_whole(store.array, [x_value.reshape(1, -1), row])
        np.testing.assert_allclose(row[0, 5:17].reshape(4, 3), expected, rtol=1e-6)
        assert (row[0, :5] == -1).all() and (row[0, 17:] == -1).all()
        np.testing.assert_array_equal(store.array, weights)
    with pytest.raises(NotImplementedError, match="runs whole"):
        program = CompiledProgram(planned, layout, "test")
        program.run(store.array, [x_value.reshape(1, -1), row], np.arange(1), 0, 1)


def test_a_product_planned_into_its_variable_is_not_copied_onto_itself():
    """With Adam, each weight gradient is a GEMM whose result the memory plan puts in the gradient variable
    the update reads: the kernel's `assign` would copy every element onto itself, so it writes no loop. The
    weights after a step are still the numpy interpreter's."""
    import kgraph

    rng = np.random.default_rng(0)
    x, y = rng.random((16, 6), dtype=np.float32), rng.random((16, 3), dtype=np.float32)
    weights, models = [], []
    for backend in ("cpu", "numpy"):
        kgraph.config.set_backend(backend)
        try:
            kgraph.utils.set_random_seed(3)
            model = kgraph.Sequential(
                [kgraph.Input((6,)), kgraph.layers.Dense(8, activation="relu"), kgraph.layers.Dense(3)]
            )
            model.compile(optimizer="adam", loss="mse")
            model.train_on_batch(x, y)
            weights.append(model.get_weights())
            models.append(model)
        finally:
            kgraph.config.set_backend("cpu")
    (train,) = [p for key, p in models[0]._programs.items() if key[0] == "train"]
    gradients = re.findall(r"def k\d+_matmul_assign\(.*\n((?:    .*\n)+)", train.source)
    assert len(gradients) == 2 and all("for r in range" not in body for body in gradients), train.source
    for compiled, interpreted in zip(*weights, strict=True):
        np.testing.assert_allclose(compiled, interpreted, rtol=1e-5, atol=1e-6)

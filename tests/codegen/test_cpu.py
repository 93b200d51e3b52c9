"""The compiled CPU backend against the numpy interpreter of the same graph, float32 throughout, and the disk
cache across processes."""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kgraph.codegen.cpu import ProgramLayout
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.program import CompiledProgram, InterpretedProgram
from kgraph.runtime.store import VariableStore
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
        for signature in getattr(fn, "signatures", []):
            assert "float64" not in str(signature), (name, signature)
            llvm = fn.inspect_llvm(signature)
            assert "fpext float" not in llvm, name
            if name.startswith("k"):
                assert re.search(r"\bdouble\b", llvm) is None, name
            checked += 1
    assert checked >= 4


def test_generated_source_is_readable(mlp):
    _, compiled, _ = mlp
    source = compiled.source
    assert "def k0_matmul_add_relu(" in source and "def step(" in source and "def run_loop(" in source
    assert "sgemm(" in source


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

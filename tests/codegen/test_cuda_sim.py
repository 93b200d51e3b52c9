"""The CUDA backend without a GPU: kernels on Numba's simulator, PTX for sm_90, and backend selection.

The simulator must be switched on before `numba.cuda` is first imported, so the kernel cases
(`cuda_sim_cases.py`) and the PTX check (`cuda_ptx_check.py`, simulator off) run in subprocesses.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

from kgraph import config
from kgraph.runtime import cuda_program
from kgraph.runtime.backends import resolved_backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
needs_numba_cuda = pytest.mark.skipif(
    importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed (the 'cuda' extra)"
)


def _run(args, simulator: bool) -> subprocess.CompletedProcess:
    # The session's shared kernel cache (tests/conftest.py): what the cases compile for the CPU compiles once.
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env.pop("KGRAPH_BACKEND", None)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
@needs_numba_cuda
def test_kernels_on_the_simulator_match_the_reference():
    result = _run(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(HERE, "cuda_sim_cases.py")],
        simulator=True,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


@pytest.mark.slow
@needs_numba_cuda
def test_every_generated_kernel_compiles_to_ptx_for_sm_90():
    result = _run([os.path.join(HERE, "cuda_ptx_check.py")], simulator=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    if last.startswith("SKIP"):
        pytest.skip(last)
    assert last.startswith("OK"), result.stdout[-3000:]


@pytest.fixture
def probe(monkeypatch):
    def set_reason(reason):
        monkeypatch.setattr(cuda_program, "_probe", [reason])

    monkeypatch.setattr(config, "_state", None)
    monkeypatch.delenv("KGRAPH_BACKEND", raising=False)
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    return set_reason


def test_asking_for_cuda_where_it_cannot_run_says_why(probe):
    probe("no CUDA driver: CUDA driver library cannot be found")
    config.set_backend("cuda")
    with pytest.raises(RuntimeError, match="'cuda' backend was requested.*no CUDA driver"):
        resolved_backend()


def test_auto_is_the_gpu_where_usable_else_the_cpu(probe):
    config.set_backend("auto")
    probe("the CUDA driver found no GPU")
    assert resolved_backend() == "cpu"
    probe("")
    assert resolved_backend() == "cuda"
    config.set_backend("numpy")
    assert resolved_backend() == "numpy"

"""Shared setup for the pytest-benchmark suites in bench/ (``pytest bench/ --benchmark-only``).

These suites run every engine inside the one pytest process; ``python -m bench.run`` is the
rigorous harness (one process per measurement). Environment knobs:

* ``BENCH_THREADS`` (default 1): BLAS/OpenMP/torch/Numba threads, XLA single-thread flags;
* ``BENCH_PIN`` (default 1): pin this process to ``BENCH_THREADS`` CPUs (the only thing that
  limits XLA's CPU thread pool);
* ``BENCH_QUICK=1``: quick-mode data sizes and fewer training rounds, to check the suites.

bench/ is not under ``testpaths``: CI (``pytest tests/``) never collects it.
"""

from __future__ import annotations

import os

from bench.engines import thread_env

THREADS = int(os.environ.get("BENCH_THREADS", "1"))
QUICK = os.environ.get("BENCH_QUICK", "0") == "1"

# Before numpy / jax / torch start their thread pools.
for _k, _v in thread_env(THREADS).items():
    os.environ.setdefault(_k, _v)
os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
if os.environ.get("BENCH_PIN", "1") == "1" and hasattr(os, "sched_getaffinity"):
    _cpus = sorted(os.sched_getaffinity(0))
    if len(_cpus) > THREADS:
        os.sched_setaffinity(0, _cpus[:THREADS])

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bench import workloads  # noqa: E402
from bench.engines import Engine, first_line, get_engine  # noqa: E402


class BenchEnv:
    """Engines, data and models, made once per session and shared by the benchmark tests."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine | BaseException] = {}
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._models: dict[tuple[str, str, str], object] = {}

    def engine(self, name: str) -> Engine:
        if name not in self._engines:
            eng = get_engine(name)
            try:
                eng.setup(THREADS)
                self._engines[name] = eng
            except Exception as exc:
                self._engines[name] = exc
        got = self._engines[name]
        if isinstance(got, BaseException):
            if name == "kgraph":
                pytest.skip(f"kgraph cannot be imported yet: {first_line(got)}")
            raise got
        return got

    def data(self, workload: str) -> tuple[np.ndarray, np.ndarray]:
        if workload not in self._data:
            self._data[workload] = workloads.get(workload).load(QUICK)
        return self._data[workload]

    def batch(self, workload: str, size: int) -> np.ndarray:
        x, _ = self.data(workload)
        reps = -(-size // x.shape[0])
        return np.ascontiguousarray(np.concatenate([x] * reps)[:size])

    def model(self, engine: str, workload: str, purpose: str):
        """A fresh model per (engine, workload, purpose); kgraph skips if it cannot build it."""
        key = (engine, workload, purpose)
        if key not in self._models:
            eng = self.engine(engine)
            eng.seed(0)
            try:
                self._models[key] = eng.build(workloads.get(workload))
            except Exception as exc:
                if engine == "kgraph":
                    pytest.skip(f"kgraph cannot build {workload} yet: {first_line(exc)}")
                raise
        return self._models[key]


@pytest.fixture(scope="session")
def bench_env() -> BenchEnv:
    return BenchEnv()


def skip_if_kgraph_unfinished(engine: str, what: str, exc: Exception) -> None:
    """kgraph raising NotImplementedError is 'not there yet' (skip); anything else is a failure."""
    if engine == "kgraph" and isinstance(exc, NotImplementedError):
        pytest.skip(f"kgraph cannot {what} yet: {first_line(exc)}")

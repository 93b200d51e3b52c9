"""The three engines behind one small interface, used by ``bench.child`` and the pytest suites.

* ``kgraph``:    ``import kgraph as keras`` and the workload's Keras builder, unchanged.
* ``keras_jax``: the real Keras 3 on the JAX backend (jit-compiled train/predict steps).
* ``torch``:     the workload's ``nn.Sequential`` equivalent, eager mode, hand-written loop.

Nothing here imports a framework at module level: ``child_env`` runs in the parent, before the
child process (and its BLAS / OpenMP / XLA thread pools) exists.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.workloads import Workload

ENGINES = ("kgraph", "keras_jax", "torch")
BASELINES = ("keras_jax", "torch")  # what kgraph is compared against

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
XLA_SINGLE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def thread_env(threads: int) -> dict[str, str]:
    """Thread settings given to every child, whatever its engine."""
    env = {var: str(threads) for var in THREAD_ENV_VARS}
    xla = os.environ.get("XLA_FLAGS", "")
    if threads == 1:
        xla = f"{xla} {XLA_SINGLE_THREAD_FLAGS}".strip()
    if xla:
        env["XLA_FLAGS"] = xla
    return env


def child_env(engine: str, threads: int, cache_dir: str | None, jax_cache: bool = False) -> dict[str, str]:
    """Full environment of a child process measuring ``engine``."""
    env = dict(os.environ)
    env.update(thread_env(threads))
    env["KERAS_BACKEND"] = "jax"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONHASHSEED"] = "0"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["BENCH_THREADS"] = str(threads)
    if engine == "kgraph" and cache_dir:
        # Cold cache = a fresh directory, for kgraph's own cache and for Numba's on-disk cache.
        env["KGRAPH_CACHE_DIR"] = cache_dir
        env["NUMBA_CACHE_DIR"] = os.path.join(cache_dir, "numba")
    if engine == "keras_jax" and jax_cache and cache_dir:
        # Optional: let JAX use its persistent compilation cache, so "warm" means something for it too.
        env["JAX_COMPILATION_CACHE_DIR"] = os.path.join(cache_dir, "jax")
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


def clocks() -> tuple[float, float]:
    """(wall clock, CPU time of the whole process): their ratio tells how many cores were busy."""
    return time.perf_counter(), time.process_time()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Engine:
    """One framework. ``setup`` imports it; ``build`` makes a model for a workload."""

    name: str = ""
    predict_paths_names: tuple[str, ...] = ()

    def setup(self, threads: int) -> dict[str, Any]:  # -> version info
        raise NotImplementedError

    def seed(self, seed: int) -> None:
        raise NotImplementedError

    def build(self, workload: Workload) -> Any:
        raise NotImplementedError

    def fit_epochs(
        self, model: Any, workload: Workload, x: np.ndarray, y: np.ndarray, epochs: int
    ) -> tuple[list[tuple[float, float]], float | None, str]:
        """Train ``epochs`` epochs. Returns ((perf_counter(), process_time()) at the end of each
        epoch, the last epoch's mean loss or None, how epochs were timed)."""
        raise NotImplementedError

    def predict_paths(self, model: Any) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
        raise NotImplementedError

    def memory_report(self, model: Any) -> Any:
        return None


class KerasLikeEngine(Engine):
    """The real Keras, or kgraph through ``import kgraph as keras``: the same code for both."""

    predict_paths_names = ("predict", "predict_on_batch", "call")

    def __init__(self, name: str, module_name: str):
        self.name = name
        self.module_name = module_name
        self.keras: Any = None

    def setup(self, threads: int) -> dict[str, Any]:
        import importlib

        self.keras = importlib.import_module(self.module_name)
        if getattr(self.keras, "__file__", None) is None:
            raise ImportError(f"{self.module_name} is only a namespace package here (no __init__.py yet)")
        info: dict[str, Any] = {self.module_name: getattr(self.keras, "__version__", "unknown")}
        if self.module_name == "keras":
            import jax

            backend = self.keras.backend.backend()
            if backend != "jax":
                raise RuntimeError(f"Keras backend is {backend!r}, expected 'jax' (set KERAS_BACKEND=jax)")
            info["jax"] = jax.__version__
        return info

    def seed(self, seed: int) -> None:
        utils = getattr(self.keras, "utils", None)
        set_seed = getattr(utils, "set_random_seed", None)
        if set_seed is not None:
            set_seed(seed)
        np.random.seed(seed)

    def build(self, workload: Workload) -> Any:
        return workload.build_keras(self.keras)

    def fit_epochs(self, model, workload, x, y, epochs):
        callbacks_mod = getattr(self.keras, "callbacks", None)
        base = getattr(callbacks_mod, "Callback", None)
        if base is not None:
            ends: list[tuple[float, float]] = []

            class _EpochTimer(base):
                def on_epoch_end(self, epoch, logs=None):
                    ends.append(clocks())

            history = model.fit(
                x, y, batch_size=workload.batch_size, epochs=epochs, verbose=0, callbacks=[_EpochTimer()]
            )
            if len(ends) == epochs:
                return ends, _last_loss(history), "callback"
            # The callback was accepted but not called: fall through to one fit() per epoch.
        ends = []
        history = None
        for _ in range(epochs):
            history = model.fit(x, y, batch_size=workload.batch_size, epochs=1, verbose=0)
            ends.append(clocks())
        return ends, _last_loss(history), "fit_per_epoch"

    def predict_paths(self, model):
        return {
            # predict()'s default batch_size is 32: pass the whole input as one batch.
            "predict": lambda x: np.asarray(model.predict(x, batch_size=len(x), verbose=0)),
            "predict_on_batch": lambda x: np.asarray(model.predict_on_batch(x)),
            # np.asarray waits for JAX's asynchronous dispatch.
            "call": lambda x: np.asarray(model(x)),
        }

    def memory_report(self, model):
        report = getattr(model, "memory_report", None)
        if report is None:
            return None
        return report() if callable(report) else report


def _last_loss(history) -> float | None:
    try:
        return float(history.history["loss"][-1])
    except Exception:
        return None


class TorchEngine(Engine):
    name = "torch"
    predict_paths_names = ("no_grad",)

    def __init__(self):
        self.torch: Any = None

    def setup(self, threads: int) -> dict[str, Any]:
        import torch

        self.torch = torch
        torch.set_num_threads(threads)
        # RuntimeError if already set (e.g. a second engine instance in one pytest process).
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(threads)
        return {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}

    def seed(self, seed: int) -> None:
        self.torch.manual_seed(seed)
        np.random.seed(seed)

    def build(self, workload: Workload):
        return workload.build_torch(self.torch)

    def fit_epochs(self, model, workload, x, y, epochs):
        torch = self.torch
        xt = torch.from_numpy(x)
        yt = torch.from_numpy(y if model.binary else np.argmax(y, axis=1).astype(np.int64))
        n, bs = xt.shape[0], workload.batch_size
        module, opt, loss_fn = model.module, model.optimizer, model.loss_fn
        module.train()
        ends = []
        mean_loss = None
        for _ in range(epochs):
            perm = torch.randperm(n)
            total = 0.0
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                xb, yb = xt[idx], yt[idx]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(module(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            mean_loss = total / n
            ends.append(clocks())
        return ends, mean_loss, "loop"

    def predict_paths(self, model):
        torch = self.torch
        module = model.module
        module.eval()

        def no_grad(x):
            with torch.no_grad():
                logits = module(torch.from_numpy(x))
                return (torch.sigmoid(logits) if model.binary else torch.softmax(logits, dim=-1)).numpy()

        return {"no_grad": no_grad}


def get_engine(name: str) -> Engine:
    if name == "kgraph":
        return KerasLikeEngine("kgraph", "kgraph")
    if name == "keras_jax":
        return KerasLikeEngine("keras_jax", "keras")
    if name == "torch":
        return TorchEngine()
    raise SystemExit(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")

"""Global configuration: backend, float type, epsilon, cache folder, threads.

Read the way Keras reads `keras.json`: the `KGRAPH_BACKEND` environment variable wins,
else the `backend` key of `kgraph.json` in `KGRAPH_HOME` (default `~/.kgraph`), else
`'cpu'`. Nothing is read at import time: the file is read (and a default one written,
if the folder is writable) on the first call of any accessor, so importing kgraph
never touches the disk.
"""

from __future__ import annotations

import json
import os
import tempfile

BACKENDS = ("cpu", "numpy", "cuda", "auto")
"""Valid backend names: 'cpu' (Numba, default), 'numpy' (reference interpreter), 'cuda' (numba-cuda, the
`cuda` extra), 'auto' (the GPU where one is usable, else the CPU)."""

_DEFAULT_BACKEND = "cpu"
_DEFAULT_FLOATX = "float32"
_DEFAULT_EPSILON = 1e-7
_CONFIG_FILENAME = "kgraph.json"

# Lazily filled by `_settings()`; `reload()` empties it.
_state: dict | None = None


def kgraph_home() -> str:
    """Returns the kgraph folder: `$KGRAPH_HOME`, else `~/.kgraph` (`/tmp/.kgraph` if home is read-only)."""
    if os.environ.get("KGRAPH_HOME"):
        return os.path.expanduser(os.environ["KGRAPH_HOME"])
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = tempfile.gettempdir()
    return os.path.join(base, ".kgraph")


def config_path() -> str:
    """Returns the path of `kgraph.json`."""
    return os.path.join(kgraph_home(), _CONFIG_FILENAME)


def _check_backend(name: object, source: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"Invalid backend {name!r} (from {source}). Expected one of {list(BACKENDS)}.")
    return name


def _check_floatx(value: object, source: str) -> str:
    if value != "float32":
        raise ValueError(
            f"Invalid floatx {value!r} (from {source}): kgraph computes in 'float32' only. "
            "Use 'float32' or leave floatx unset."
        )
    return value


def _check_epsilon(value: object, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"Invalid epsilon {value!r} (from {source}). Expected a non-negative float.")
    return float(value)


def _check_num_threads(value: object, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Invalid number of threads {value!r} (from {source}). Expected an integer >= 1.")
    return value


def _read_file(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        # As Keras does with a corrupt keras.json: fall back to the defaults.
        return {}
    return data if isinstance(data, dict) else {}


def _write_default_file(home: str, path: str) -> None:
    config = {
        "backend": _DEFAULT_BACKEND,
        "floatx": _DEFAULT_FLOATX,
        "epsilon": _DEFAULT_EPSILON,
        "cache_dir": os.path.join(home, "cache"),
    }
    try:
        os.makedirs(home, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=home, prefix=".kgraph-", suffix=".json.tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(config, f, indent=4)
                f.write("\n")
            # Atomic, so a concurrent process never reads a half-written file.
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        # A read-only home is fine: the defaults simply stay in memory.
        pass


def _settings() -> dict:
    global _state
    if _state is not None:
        return _state
    home = kgraph_home()
    path = os.path.join(home, _CONFIG_FILENAME)
    if os.path.exists(path):
        data = _read_file(path)
    else:
        data = {}
        _write_default_file(home, path)
    state = {
        "backend": _check_backend(data.get("backend", _DEFAULT_BACKEND), path),
        "floatx": _check_floatx(data.get("floatx", _DEFAULT_FLOATX), path),
        "epsilon": _check_epsilon(data.get("epsilon", _DEFAULT_EPSILON), path),
        "cache_dir": os.path.expanduser(str(data.get("cache_dir") or os.path.join(home, "cache"))),
        "num_threads": _default_num_threads(),
    }
    if os.environ.get("KGRAPH_BACKEND"):
        state["backend"] = _check_backend(os.environ["KGRAPH_BACKEND"], "KGRAPH_BACKEND")
    if os.environ.get("KGRAPH_NUM_THREADS"):
        text = os.environ["KGRAPH_NUM_THREADS"].strip()
        state["num_threads"] = _check_num_threads(int(text) if text.isdigit() else text, "KGRAPH_NUM_THREADS")
    _state = state
    return state


def _default_num_threads() -> int:
    """Threads for kernels: OPENBLAS_NUM_THREADS or OMP_NUM_THREADS if set, else the usable cores.

    A program runs them as BLAS threads or as Numba threads, never both (codegen/threads.py).
    """
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        text = os.environ.get(name, "").strip()
        if text.isdigit() and int(text) > 0:
            return int(text)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def reload() -> None:
    """Forgets in-process settings, so the next accessor re-reads the environment and `kgraph.json`."""
    global _state
    _state = None


def backend() -> str:
    """Returns the backend name: one of 'cpu', 'numpy', 'cuda', 'auto'.

    Example:

    >>> kgraph.config.backend()
    'cpu'
    """
    return _settings()["backend"]


def set_backend(name: str) -> None:
    """Sets the backend for models compiled from now on (in this process only).

    Args:
        name: One of 'cpu', 'numpy', 'cuda', 'auto'.

    Raises:
        ValueError: If `name` is not a valid backend.
    """
    _settings()["backend"] = _check_backend(name, "set_backend()")


def floatx() -> str:
    """Returns the default float type, `'float32'`."""
    return _settings()["floatx"]


def set_floatx(value: str) -> None:
    """Sets the default float type; only `'float32'` is supported.

    Raises:
        ValueError: For any other value.
    """
    _settings()["floatx"] = _check_floatx(value, "set_floatx()")


def epsilon() -> float:
    """Returns the fuzz factor used in numeric expressions (default `1e-7`)."""
    return _settings()["epsilon"]


def set_epsilon(value: float) -> None:
    """Sets the fuzz factor used in numeric expressions.

    Raises:
        ValueError: If `value` is not a non-negative number.
    """
    _settings()["epsilon"] = _check_epsilon(value, "set_epsilon()")


def cache_dir() -> str:
    """Returns the folder for compiled kernels: `$KGRAPH_CACHE_DIR`, else `cache_dir` of `kgraph.json`.

    The folder is not created here; writers create it when they first need it.
    """
    if os.environ.get("KGRAPH_CACHE_DIR"):
        return os.path.expanduser(os.environ["KGRAPH_CACHE_DIR"])
    return _settings()["cache_dir"]


def num_threads() -> int:
    """Returns the number of threads compiled kernels may use (`$KGRAPH_NUM_THREADS`, else the cores)."""
    return _settings()["num_threads"]


def set_num_threads(n: int) -> None:
    """Sets the number of threads compiled kernels may use.

    Raises:
        ValueError: If `n` is not an integer >= 1.
    """
    _settings()["num_threads"] = _check_num_threads(n, "set_num_threads()")


def image_data_format() -> str:
    """Returns the image data format, always `'channels_last'`."""
    return "channels_last"


def set_image_data_format(value: str) -> None:
    """Accepts only `'channels_last'`, the one layout kgraph compiles.

    Raises:
        ValueError: For any other value.
    """
    if value != "channels_last":
        raise ValueError(f"Invalid image_data_format {value!r}: kgraph supports only 'channels_last'.")


_unsafe_deserialization = [False]


def enable_unsafe_deserialization() -> None:
    """Lets every later load rebuild Python lambdas from files, as `safe_mode=False` does (Keras's switch)."""
    _unsafe_deserialization[0] = True


def unsafe_deserialization_enabled() -> bool:
    return _unsafe_deserialization[0]

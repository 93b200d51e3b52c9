"""Single-precision GEMM and GEMV callable from Numba code: `cblas_sgemm` and `cblas_sgemv` of the OpenBLAS
that ships with SciPy.

Calling the C symbol directly (an ExternalFunction resolved when the library is loaded) compiles far faster
than `np.dot` inside `njit`, takes transposes as flags, and caches on disk like any other Numba code.
"""

from __future__ import annotations

import ctypes
import glob
import os

import llvmlite.binding as llvm
from numba import types

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

_i32, _f32 = types.int32, types.float32
_f32p = types.CPointer(types.float32)


def _find_blas() -> tuple[str, str]:
    """Path and sgemm symbol of an OpenBLAS with a 32-bit-integer CBLAS interface."""
    import scipy

    folder = os.path.join(os.path.dirname(scipy.__file__), "..", "scipy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas*.so*"))):
        for symbol in ("scipy_cblas_sgemm", "cblas_sgemm"):
            library = ctypes.CDLL(path)
            if hasattr(library, symbol) and hasattr(library, symbol.replace("sgemm", "sgemv")):
                return os.path.realpath(path), symbol
    raise ImportError(f"kgraph needs SciPy's OpenBLAS (libscipy_openblas*.so) in {folder}; reinstall scipy.")


BLAS_PATH, SGEMM_SYMBOL = _find_blas()
llvm.load_library_permanently(BLAS_PATH)

openblas_sgemm = types.ExternalFunction(
    SGEMM_SYMBOL,
    types.void(_i32, _i32, _i32, _i32, _i32, _i32, _f32, _f32p, _i32, _f32p, _i32, _f32, _f32p, _i32),
)

# What `sgemm` (codegen/gemm.py) runs a one-row product on.
sgemv = types.ExternalFunction(
    SGEMM_SYMBOL.replace("sgemm", "sgemv"),
    types.void(_i32, _i32, _i32, _i32, _f32, _f32p, _i32, _f32p, _i32, _f32, _f32p, _i32),
)


_blas = ctypes.CDLL(BLAS_PATH)
_PREFIX = "scipy_" if hasattr(_blas, "scipy_openblas_set_num_threads") else ""

# OpenBLAS's thread count, read and set from compiled code (a recurrent walk runs its many small step
# products on one thread, then gives the count back): a pair of calls costs well under a microsecond.
blas_threads = types.ExternalFunction(f"{_PREFIX}openblas_get_num_threads", types.int32())
set_blas_threads_to = types.ExternalFunction(f"{_PREFIX}openblas_set_num_threads", types.void(_i32))

__all__ = [
    "NO_TRANS",
    "ROW_MAJOR",
    "TRANS",
    "blas_threads",
    "set_blas_threads",
    "set_blas_threads_to",
    "openblas_sgemm",
    "sgemv",
]

_set_threads = getattr(_blas, f"{_PREFIX}openblas_set_num_threads")
_threads = [0]  # the count last set, so repeated calls cost a comparison


def set_blas_threads(count: int) -> None:
    """Sets the thread count of the BLAS that kernels call."""
    if _threads[0] != count:
        _set_threads(int(count))
        _threads[0] = count

"""Single-precision GEMM callable from Numba code: the `cblas_sgemm` of the OpenBLAS that ships with SciPy.

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
            if hasattr(ctypes.CDLL(path), symbol):
                return os.path.realpath(path), symbol
    raise ImportError(f"kgraph needs SciPy's OpenBLAS (libscipy_openblas*.so) in {folder}; reinstall scipy.")


BLAS_PATH, SGEMM_SYMBOL = _find_blas()
llvm.load_library_permanently(BLAS_PATH)

sgemm = types.ExternalFunction(
    SGEMM_SYMBOL,
    types.void(_i32, _i32, _i32, _i32, _i32, _i32, _f32, _f32p, _i32, _f32p, _i32, _f32, _f32p, _i32),
)


__all__ = ["NO_TRANS", "ROW_MAJOR", "TRANS", "set_blas_threads", "sgemm"]


_blas = ctypes.CDLL(BLAS_PATH)
_set_threads = next(
    (
        getattr(_blas, s)
        for s in ("scipy_openblas_set_num_threads", "openblas_set_num_threads")
        if hasattr(_blas, s)
    ),
    None,
)


_threads = [0]  # the count last set, so repeated calls cost a comparison


def set_blas_threads(count: int) -> None:
    """Sets the thread count of the BLAS that kernels call."""
    if _set_threads is not None and _threads[0] != count:
        _set_threads(int(count))
        _threads[0] = count

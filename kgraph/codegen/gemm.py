"""`sgemm` as generated kernels call it: small products on kgraph's own tiles (gemm_tiles.py), the rest on
OpenBLAS, behind one C symbol with cblas_sgemm's signature.

OpenBLAS packs both operands into its own layout on every call, which below a few million multiply-adds
costs as much as the multiplies: the products of a small dense network's training step (32 x 64 @ 64 x 64
and its gradients) ran at 33-47 GFLOP/s there against 60-83 on the tiles, which read A and B in place. A
product with B transposed (an input gradient, dY @ W^T) first copies B^T into a buffer: the tiles read B's
rows. Widths that are not a multiple of 8 (a 10-class output layer) stay with OpenBLAS.

A one-row product (a batch-1 predict's layer) is a matrix-vector product: OpenBLAS's sgemv, which streams
the matrix once, where its sgemm would pack it all first (1 x 1600 @ 1600 x 10: 2.8 us against 12; 1 x 288
@ 288 x 64: 0.8 against 13; up to 2x on large matrices, 1 x 784 @ 784 x 512: 20 against 27).
"""

from __future__ import annotations

import hashlib
import inspect

import llvmlite.binding as llvm
import numpy as np
from numba import carray, cfunc, njit, types

from kgraph.codegen import gemm_tiles as gemm_tiles_module
from kgraph.codegen.blas import NO_TRANS, ROW_MAJOR, TRANS, openblas_sgemm, sgemv
from kgraph.codegen.gemm_tiles import LANES, VECTOR_LANES, gemm_tiles
from kgraph.codegen.intrinsics import ptr

# Multiply-adds up to which a product runs on the tiles, and the largest B^T (in elements) copied for them.
# Measured, one thread, tiles against OpenBLAS: 32 x 64 @ 64 x 64 3.9 against 7.6 us, its A^T form 4.3 against
# 7.3, its B^T form 4.6 against 6.7 (the copy included); 64 x 64 @ 64 x 256 30 against 43; at 2M to 8M the
# tiles still led by 5-20% on most shapes but fell behind with A transposed (256 x 128 @ 128 x 256: 0.77x), as
# they did when B^T grew past ~4K entries (its copy strides through memory: 64 x 256, 0.57x).
SMALL_MNK = 1 << 21
SMALL_TRANSPOSED = 1 << 12
# Past SMALL_MNK, AVX-512's tiles (gemm_tiles.py) keep a product with neither operand transposed while B holds
# up to this many entries, contiguous (1 MB, half a core's L2: the tiles read B again for every 6 rows of C;
# a slice of B's columns, rows 2 KB apart, crowds a few of the caches' sets: an MNIST MLP's products split by
# columns, 128 x 784 @ 784 x 256 of a 512-wide B, trained at a third of the speed). One thread,
# tiles against OpenBLAS: 4000 x 64 @ 64 x 128 76 against 58 GMAC/s; 7744 x 288 @ 288 x 64 (the MNIST CNN's
# conv2 on half a batch) 59 against 54; 64 x 512 @ 512 x 512 42-83 against 31-53; 1000 x 256 @ 256 x 256 75
# against 68; but with B of 1.6 MB (64 x 784 @ 784 x 512) 41 against 50-60, and with A transposed (128 x
# 2560 @ 2560 x 256) 15 against 46.
LARGE_TILES_B = 1 << 18 if VECTOR_LANES == 16 else 0

# How a product runs.
OPENBLAS, TILES, TILES_ON_B_COPY, GEMV = 0, 1, 2, 3

_i32, _f32 = types.int32, types.float32
_f32p = types.CPointer(types.float32)
_SIGNATURE = types.void(_i32, _i32, _i32, _i32, _i32, _i32, _f32, _f32p, _i32, _f32p, _i32, _f32, _f32p, _i32)
_SYMBOL = "kgraph_sgemm"


@njit(cache=True)
def route(order, ta, tb, m, n, k, ldb):
    """How `sgemm` runs a product of these sizes (OPENBLAS, TILES, TILES_ON_B_COPY or GEMV)."""
    if order == ROW_MAJOR and m == 1:
        return GEMV
    if order != ROW_MAJOR or n % LANES != 0:
        return OPENBLAS
    if np.int64(m) * n * k > SMALL_MNK:
        plain = ta == NO_TRANS and tb == NO_TRANS and ldb == n  # B contiguous
        return TILES if plain and np.int64(k) * n <= LARGE_TILES_B else OPENBLAS
    if tb == NO_TRANS:
        return TILES
    return TILES_ON_B_COPY if k * n <= SMALL_TRANSPOSED else OPENBLAS


def _sgemm_over(tiles_digest: str):
    """The C callable's body, over the tiles of gemm_tiles.py whose source has digest `tiles_digest`: Numba
    checks only this file's source before reusing its cached code, but keys it by the function's closure, so
    a change to the tiles (linked into this code) compiles it again."""

    def _sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        tiles_digest  # noqa: B018  (in the closure: the cache key)
        way = route(order, ta, tb, m, n, k, ldb)
        if way == TILES:
            _tiles(ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        elif way == TILES_ON_B_COPY:
            stored = carray(b, (n, ldb))  # B^T is k x n: B is n rows of k
            rows = np.empty((k, n), np.float32)
            for j in range(n):
                for p in range(k):
                    rows[p, j] = stored[j, p]
            _tiles(ta, m, n, k, alpha, a, lda, ptr(rows), n, beta, c, ldc)
        elif way == GEMV:  # c^T = op(B)^T a^T; a's row is a column of A (stride lda) when A is transposed
            trans, rows, cols = (TRANS, k, n) if tb == NO_TRANS else (NO_TRANS, n, k)
            sgemv(order, trans, rows, cols, alpha, b, ldb, a, lda if ta != NO_TRANS else 1, beta, c, 1)
        else:
            openblas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    return _sgemm


@njit(inline="always")
def _tiles(ta, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    wide = np.int64
    transposed = np.int32(ta != NO_TRANS)
    gemm_tiles(transposed, wide(m), wide(n), wide(k), alpha, a, wide(lda), b, wide(ldb), beta, c, wide(ldc))


# Kernels call it by symbol (as they call OpenBLAS), so its code is compiled once, here, not into every
# kernel. Defining the symbol loads Numba's compiler (~0.5 s), so `import kgraph` leaves it to the first
# generated module (codegen/cache.py) or split product (threads.py), before any kernel compiles or loads.
sgemm = types.ExternalFunction(_SYMBOL, _SIGNATURE)
_compiled = []  # the C callable, once made (held: its address must stay valid)


def define_sgemm() -> None:
    """Compiles (or loads from Numba's cache) the C callable behind `sgemm` and defines its symbol."""
    if not _compiled:
        tiles_digest = hashlib.sha256(inspect.getsource(gemm_tiles_module).encode()).hexdigest()[:16]
        _compiled.append(cfunc(_SIGNATURE, cache=True, nogil=True)(_sgemm_over(tiles_digest)))
        llvm.add_symbol(_SYMBOL, _compiled[0].address)

"""codegen/gemm.py and gemm_tiles.py: the `sgemm` generated kernels call, against numpy in float64, on every
way it runs (kgraph's tiles, the tiles on a copy of B^T, OpenBLAS) and every tile edge."""

import numpy as np
import pytest
from numba import njit
from numpy import float32 as f32

from kgraph.codegen import gemm, gemm_tiles
from kgraph.codegen.blas import NO_TRANS, ROW_MAJOR, TRANS
from kgraph.codegen.intrinsics import ptr

gemm.define_sgemm()


@njit(cache=True)
def _call(ta, tb, m, n, k, alpha, a, b, beta, c):
    gemm.sgemm(
        ROW_MAJOR, ta, tb, m, n, k, alpha, ptr(a), a.shape[1], ptr(b), b.shape[1], beta, ptr(c), c.shape[1]
    )


# (m, k, n): a full 6 x 16 tile; rows and an 8-column block past it; 2 to 5 rows past the 6-row blocks,
# each height with its own tile width and single vectors after it; one row (sgemv) of each width; an empty
# product; a width OpenBLAS keeps (10 columns); products past SMALL_MNK (on AVX-512's tiles, B small; on
# OpenBLAS, B of 312K entries).
SHAPES = [
    (6, 5, 16), (13, 7, 24), (2, 5, 40), (3, 4, 32), (10, 6, 56), (11, 3, 24), (1, 3, 8), (1, 3, 72),
    (1, 6, 10), (0, 4, 16), (32, 64, 64), (9, 4, 10), (160, 128, 128), (40, 600, 520),
]  # fmt: skip


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_sgemm_matches_numpy(ta, tb, m, k, n):
    """C = alpha * op(A) @ op(B) + beta * C inside larger buffers (leading dimensions past the matrices):
    entries of C outside the product are never touched, and with beta 0 C's old entries (NaN here) are
    never read."""
    rng = np.random.default_rng(m * 100 + k)
    a = rng.normal(size=(k, m + 3) if ta else (m, k + 3)).astype(np.float32)
    b = rng.normal(size=(n, k + 2) if tb else (k, n + 2)).astype(np.float32)
    op_a = a[:, :m].T if ta else a[:, :k]
    op_b = b[:, :k].T if tb else b[:, :n]
    product = op_a.astype(np.float64) @ op_b
    old = rng.normal(size=(m, n + 5)).astype(np.float32)
    flags = TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS
    for alpha, beta in ((1.0, 0.0), (0.5, 1.0), (2.0, -0.5)):
        c = np.full_like(old, np.nan) if beta == 0 else old.copy()
        _call(*flags, m, n, k, f32(alpha), a, b, f32(beta), c)
        expected = alpha * product + (beta * old[:, :n] if beta else 0.0)
        np.testing.assert_allclose(c[:, :n], expected, rtol=1e-5, atol=1e-5 * np.sqrt(k))
        np.testing.assert_array_equal(c[:, n:], np.full_like(old[:, n:], np.nan) if beta == 0 else old[:, n:])


def test_products_route_as_measured():
    """The shapes above take each way: sgemv for one row, the tiles where B's rows are read in place, a copy
    of a small B^T, and OpenBLAS for widths the tiles do not hold and for large products."""
    route, plain = gemm.route, (ROW_MAJOR, NO_TRANS, NO_TRANS)
    assert route(*plain, 1, 512, 784, 512) == route(ROW_MAJOR, NO_TRANS, TRANS, 1, 10, 3, 3) == gemm.GEMV
    assert route(*plain, 32, 64, 64, 64) == gemm.TILES
    assert route(ROW_MAJOR, NO_TRANS, TRANS, 32, 64, 64, 64) == gemm.TILES_ON_B_COPY
    # B^T of 16K entries: its copy strides
    assert route(ROW_MAJOR, NO_TRANS, TRANS, 8, 256, 64, 64) == gemm.OPENBLAS
    assert route(*plain, 9, 10, 4, 10) == gemm.OPENBLAS
    assert route(ROW_MAJOR, TRANS, NO_TRANS, 160, 128, 128, 128) == gemm.OPENBLAS
    # Large products stay on AVX-512's tiles while B fits half of L2 and nothing is transposed.
    large_tiles = gemm.TILES if gemm_tiles.VECTOR_LANES == 16 else gemm.OPENBLAS
    assert route(*plain, 160, 128, 128, 128) == large_tiles
    assert route(*plain, 64, 512, 784, 512) == gemm.OPENBLAS  # B: 1.6 MB
    assert route(*plain, 128, 256, 512, 512) == gemm.OPENBLAS  # half of B's columns: rows 2 KB apart
    assert route(ROW_MAJOR + 1, NO_TRANS, NO_TRANS, 6, 16, 5, 16) == gemm.OPENBLAS  # column-major: OpenBLAS's


_tiles8, _tiles16 = gemm_tiles.tiles_on(8), gemm_tiles.tiles_on(16)


@njit(cache=True)
def _call_tiles(lanes, trans_a, m, n, k, alpha, a, lda, b, beta, c):
    wide = np.int64
    args = (wide(m), wide(n), wide(k), alpha, ptr(a), wide(lda), ptr(b), wide(b.shape[1]), beta, ptr(c))
    if lanes == 8:
        _tiles8(np.int32(trans_a), *args, wide(c.shape[1]))
    else:
        _tiles16(np.int32(trans_a), *args, wide(c.shape[1]))


# (m, k, n) past each edge of both widths' tiles: AVX2's 6 x 16 tiles and 8-column vectors; AVX-512's 6 x 64
# tiles, then 16-column vectors, then one 8-column vector (88 = 64 + 16 + 8, 136 = 2 * 64 + 8).
TILE_EDGES = [
    (6, 5, 64), (13, 7, 88), (2, 5, 72), (7, 3, 136), (5, 4, 24), (3, 4, 8), (1, 9, 200), (12, 2, 16),
]  # fmt: skip


@pytest.mark.parametrize("lanes", [8, 16])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("m, k, n", TILE_EDGES)
def test_tiles_of_each_vector_width_match_numpy(lanes, trans_a, m, k, n):
    """Both tile widths (the machine picks one: VECTOR_LANES) against numpy, inside larger buffers: every
    column to `n` written, none past it, and with beta 0 C's old entries (NaN) never read."""
    rng = np.random.default_rng(m * 1000 + n)
    a = rng.normal(size=(k, m + 3) if trans_a else (m, k + 3)).astype(np.float32)
    b = rng.normal(size=(k, n + 8)).astype(np.float32)
    product = (a[:, :m].T if trans_a else a[:, :k]).astype(np.float64) @ b[:, :n]
    old = rng.normal(size=(m, n + 8)).astype(np.float32)
    for alpha, beta in ((1.0, 0.0), (2.0, -0.5)):
        c = np.full_like(old, np.nan) if beta == 0 else old.copy()
        _call_tiles(lanes, trans_a, m, n, k, f32(alpha), a, a.shape[1], b, f32(beta), c)
        expected = alpha * product + (beta * old[:, :n] if beta else 0.0)
        np.testing.assert_allclose(c[:, :n], expected, rtol=1e-5, atol=1e-5 * np.sqrt(k))
        np.testing.assert_array_equal(c[:, n:], np.full_like(old[:, n:], np.nan) if beta == 0 else old[:, n:])

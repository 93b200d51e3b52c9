"""Which pool of threads a program's kernels run on: OpenBLAS's, or Numba's, never both at once.

Two pools on two cores fight: after a threaded GEMM, OpenBLAS's workers spin for ~0.1 s waiting for more
work, and a parallel recurrent scan that followed a 2-thread GEMM ran 3x slower than its serial version
(8 ms against 2.5 ms for GEMM + scan). A program splits its work across Numba's threads when its largest
product is worth splitting (SPLIT_MIN_MNK, or SPLIT_MIN_GEMV for a one-row product) or it holds a recurrent
scan over SPLIT_MIN_BATCH rows or more: then BLAS runs on one thread, each large GEMM runs here as one
single-threaded `sgemm` per Numba thread, and large loops (an optimizer's update) in blocks of rows or
columns (codegen/loops.py). Measured, processes alternated: an MNIST MLP trains at 47.4k samples/s against
43.0k with OpenBLAS's threads, the MNIST CNN at 5.7k against 5.3k; its Adam update halves. Other programs
leave threading to OpenBLAS (a scan there sets it to one thread while it walks).
"""

from __future__ import annotations

import threading

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import carray, cfunc, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy import float32 as f32

from kgraph.codegen.blas import NO_TRANS, ROW_MAJOR, TRANS, set_blas_threads
from kgraph.codegen.gemm import define_sgemm, sgemm
from kgraph.codegen.gemm_tiles import VECTOR_LANES
from kgraph.codegen.intrinsics import (
    claim_flag,
    flag_raised,
    flush_denormals,
    ptr,
    raise_flag,
    restore_float_mode,
    spin_pause,
    view,
)

# A product splits from this many multiply-adds (~40 us on one core). OpenBLAS threads from 2**18, and a fork
# here pays a wake-up of Numba's worker, but halves on the tiles beat OpenBLAS's two threads from 2M: the
# MNIST CNN's batch-1 conv2 product (121 x 288 x 64, 2.2M) 37-47 us against 56, and the LSTM's batch-1 predict
# (a 2.6M input projection) 146-193 us against 159-247 (processes alternated; from 2**22 neither split); and
# they beat one thread's tiles from ~1.2M (same process, alternated): that conv2 cropped to what its pool
# reads (100 x 288 x 64, 1.8M) 29-44 us against 41-49, 128 x 96 x 96 18-32 against 28-32; at 1M it was a draw
# (64 x 128 x 128: 21-30 against 26-32). AVX-512's tiles (gemm_tiles.py) halve one thread's time, and the
# threshold doubles: that batch-1 CNN's whole step (its conv2 1.8M) took 41.8-44.9 us on one thread against
# 47.3-55.6 with the product split (same session, processes alternated): the worker's wake-up and its copies
# of the patches and the kernel cost more than its half of the work.
SPLIT_MIN_MNK = 3 << 20 if VECTOR_LANES == 16 else 3 << 19
# Rows (or columns, or depth) of the product a thread gets at least.
SPLIT_MIN_ROWS = 8
# Batch rows from which a recurrent scan splits across threads (rows never meet in a recurrence, so one fork
# per scan): below, a slice per thread gains too little to pay for compiling the split (~2 s), and the
# program keeps OpenBLAS's threads for its other products (an LSTM's batch-1 input projection: 36 us on two
# threads, 62 us on one).
SPLIT_MIN_BATCH = 64
# The shared dimension of a product splits when it is this many times its largest other dimension.
DEPTH_SPLIT_RATIO = 8
# A one-row product (a matrix-vector product: a batch-1 predict) splits from this many entries of the matrix:
# it streams the matrix at ~8-12 entries a ns on one core, whatever the multiply-adds. It splits along the
# shared dimension (each thread streams a contiguous half of the rows of B, then the two partial rows add):
# 1 x 784 @ 784 x 512 on one thread 27-36 us, in two halves of its columns 21-30, of its rows 18-26; 512 x 512
# 18-25, 15-19, 12-17; 256 x 512 9-13, 8-12, 7-11 (three runs); 256 x 256 on two threads lost (6.4 -> 7.6 us).
SPLIT_MIN_GEMV = 1 << 17
# An elementwise loop splits from this many elements (~30 us on one core): an LSTM's Adam update of 2.6M
# weights takes 390 us on two threads against 975 us on one.
SPLIT_MIN_ELEMENTS = 1 << 16


@intrinsic
def thread_count(typingctx):
    """`numba.get_num_threads()` called by its C symbol: Numba's own version calls a ctypes pointer, which
    makes every function that calls it uncacheable ("dynamic globals")."""
    numba.get_num_threads()  # starts the threading layer, which registers the symbol

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(cgutils.intp_t, []), "get_num_threads"
        )
        return builder.call(fn, [])

    return types.intp(), codegen


@njit(cache=True, nogil=True)
def row_parts(rows, work_per_row, least=SPLIT_MIN_MNK):
    """How many threads share `rows` rows of `work_per_row` multiply-adds each (1, run on the caller, under
    `least` in all)."""
    if rows * work_per_row < least:
        return 1
    return max(1, min(thread_count(), rows // SPLIT_MIN_ROWS))


@njit(cache=True, nogil=True)
def loop_parts(units, per_unit):
    """How many threads share a loop over `units` rows (or columns) of `per_unit` elements each."""
    if units * per_unit < SPLIT_MIN_ELEMENTS:
        return 1
    return max(1, min(thread_count(), units))


@njit(cache=True, nogil=True)
def _sgemm_at(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc):
    sgemm(
        ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, m, n, k, f32(1.0),
        ptr(view(a, ia, (1,))), lda, ptr(view(b, ib, (1,))), ldb, beta, ptr(view(c, ic, (1,))), ldc,
    )  # fmt: skip


# How `_sgemm_parts` splits a product: by rows of C, by its columns, or along the shared dimension.
BY_ROWS, BY_COLUMNS, BY_DEPTH = 0, 1, 2


@njit(cache=True, nogil=True, parallel=True)
def _sgemm_parts(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc, parts, axis):
    """C = op(A) @ op(B) + beta * C as `parts` products, one per thread, over slices of `axis`. Along the
    shared dimension the first slice accumulates into C, the others into partial sums added to C afterwards.
    One parallel function for the three ways: each costs ~1.5 s to compile."""
    partial = np.empty((parts - 1) * m * n if axis == BY_DEPTH else 0, np.float32)
    for p in prange(parts):
        float_mode = flush_denormals()  # this thread's, as the kernel calling it runs (decorators.py)
        if axis == BY_ROWS:  # rows lo..hi of C: rows of op(A)
            lo, hi = p * m // parts, (p + 1) * m // parts
            a_at = ia + (lo if ta else lo * lda)
            _sgemm_at(ta, tb, hi - lo, n, k, a, a_at, lda, b, ib, ldb, beta, c, ic + lo * ldc, ldc)
        elif axis == BY_COLUMNS:  # columns lo..hi of C: columns of op(B)
            lo, hi = p * n // parts, (p + 1) * n // parts
            b_at = ib + (lo * ldb if tb else lo)
            _sgemm_at(ta, tb, m, hi - lo, k, a, ia, lda, b, b_at, ldb, beta, c, ic + lo, ldc)
        else:
            lo, hi = p * k // parts, (p + 1) * k // parts
            a_at = ia + (lo * lda if ta else lo)
            b_at = ib + (lo if tb else lo * ldb)
            if p == 0:
                _sgemm_at(ta, tb, m, n, hi - lo, a, a_at, lda, b, b_at, ldb, beta, c, ic, ldc)
            else:
                at = (p - 1) * m * n
                _sgemm_at(ta, tb, m, n, hi - lo, a, a_at, lda, b, b_at, ldb, f32(0.0), partial, at, n)
        restore_float_mode(float_mode)
    for p in range(parts - 1 if axis == BY_DEPTH else 0):
        for i in range(m):
            for j in range(n):
                c[ic + i * ldc + j] += partial[(p * m + i) * n + j]


@njit(cache=True, nogil=True)
def _sgemm_split_arrays(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc):
    """`sgemm_split` on flat arrays.

    Each thread packs the whole of the operand it does not split, so the split runs along the largest
    dimension: rows of C when C is taller than wide (B is the smaller operand), columns when wider; and the
    shared dimension when it dwarfs both (a weight gradient summed over thousands of rows), at the price of
    adding up partial products.
    """
    if m == 1:  # a matrix-vector product: what it costs is streaming B, fastest in contiguous runs of rows
        axis, parts = BY_DEPTH, row_parts(k, n, SPLIT_MIN_GEMV)
    else:
        axis, parts = BY_DEPTH, row_parts(k, m * n) if k >= DEPTH_SPLIT_RATIO * max(m, n) else 1
        if parts == 1:
            axis, parts = (BY_ROWS, row_parts(m, n * k)) if m >= n else (BY_COLUMNS, row_parts(n, m * k))
    if parts == 1:
        _sgemm_at(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc)
    else:  # one call: each call site with its own constant axis compiled the parallel function again
        _sgemm_parts(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc, parts, axis)


_i32, _f32p = types.int32, types.CPointer(types.float32)
_SPLIT_SIGNATURE = types.void(
    _i32, _i32, types.intp, types.intp, types.intp, _f32p, types.intp, _f32p, types.intp, types.float32,
    _f32p, types.intp,
)  # fmt: skip


def _sgemm_split_pointers(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    _sgemm_split_arrays(
        ta != 0, tb != 0, m, n, k, carray(a, ((k if ta else m) * lda,)), 0, lda,
        carray(b, ((n if tb else k) * ldb,)), 0, ldb, beta, carray(c, (m * ldc,)), 0, ldc,
    )  # fmt: skip


# Kernels call the split product by symbol, as they call OpenBLAS: a call to the jitted function would link
# its code (and the parallel functions under it) into every kernel that multiplies, and Numba optimizes a
# kernel's module again with all it links (an MNIST MLP's first epoch, compile included: 8.1 s against 6.3 s;
# an LSTM's 26.2 s against 16.5 s).
_SPLIT_SYMBOL = "kgraph_sgemm_split"
_sgemm_split_symbol = types.ExternalFunction(_SPLIT_SYMBOL, _SPLIT_SIGNATURE)
_split_product = []  # the compiled C callable, once made (held: its address must stay valid)


def start_split_pool() -> None:
    """Starts Numba's threads and defines the split product's symbol: before any kernel that calls
    `sgemm_split` compiles or loads (a program that splits calls this through `use_threads`)."""
    if not _split_product:
        numba.get_num_threads()  # starts the threading layer, whose scheduler the parallel code calls
        define_sgemm()  # the products' parts call it
        _split_product.append(cfunc(_SPLIT_SIGNATURE, cache=True, nogil=True)(_sgemm_split_pointers))
        llvm.add_symbol(_SPLIT_SYMBOL, _split_product[0].address)


@njit(cache=True, nogil=True)
def sgemm_split(ta, tb, m, n, k, a, ia, lda, b, ib, ldb, beta, c, ic, ldc):
    """`C = op(A) @ op(B) + beta * C` (row-major; op transposes when its flag is set), each matrix given as a
    flat float32 array, the element offset of its first entry and its leading dimension; split across
    Numba's threads when it is large enough (`_sgemm_split_arrays`)."""
    _sgemm_split_symbol(
        np.int32(ta), np.int32(tb), m, n, k, ptr(view(a, ia, (1,))), lda, ptr(view(b, ib, (1,))), ldb, beta,
        ptr(view(c, ic, (1,))), ldc,
    )  # fmt: skip


@njit(cache=True, nogil=True)
def matmul(ta, tb, a, b, out):
    """`out = op(a) @ op(b)` for C-contiguous 2-D float32 arrays."""
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    flat_a, flat_b, flat_out = view(a, 0, (a.size,)), view(b, 0, (b.size,)), view(out, 0, (out.size,))
    sgemm_split(ta, tb, m, n, k, flat_a, 0, a.shape[1], flat_b, 0, b.shape[1], f32(0.0), flat_out, 0, n)


_set = threading.local()  # Numba's thread count is per calling thread: the counts last set on this one


def use_threads(count: int, split: bool) -> None:
    """The pool kernels called from this thread run on: with `split`, `count` Numba threads (at most
    NUMBA_NUM_THREADS) that kernels split their work across, and BLAS on one thread; without, `count` BLAS
    threads (such programs hold no kernel that splits, so Numba's threads stay idle)."""
    if getattr(_set, "counts", None) != (count, split):
        if split:
            start_split_pool()
            numba.set_num_threads(max(1, min(count, numba.config.NUMBA_NUM_THREADS)))
        set_blas_threads(1 if split else count)
        _set.counts = (count, split)


# --- a projection shared by two threads, a chunk of steps at a time (a projected recurrent scan) ----------
# int64 entries between two flags: a 64-byte cache line each, so that raising one does not disturb another.
FLAG_STRIDE = 8


@njit(cache=True, nogil=True)
def chunk_flags(steps, chunk):
    """The flags of a walk's chunks of `chunk` steps, all down: two a chunk (claimed, then projected)."""
    return np.zeros((steps + chunk - 1) // chunk * 2 * FLAG_STRIDE, np.int64)


@njit(cache=True, nogil=True)
def project_chunk(x, kernel, xp, flags, c, n, steps, width, gates, chunk, backwards):
    """Projects chunk `c` of a walk's steps (`xp = x @ kernel` for steps c * chunk onward, in walk order,
    for each of the `n` rows) unless a thread has claimed it; raises its flag once done. `x` is (n, steps,
    width) and `xp` (n, steps, gates), flat; `flags` holds two flags a chunk: claimed, then projected."""
    if claim_flag(flags, 2 * FLAG_STRIDE * c):
        last = min((c + 1) * chunk, steps)
        first, rows = steps - last if backwards else c * chunk, last - c * chunk
        for b in range(n):
            at = b * steps + first
            _sgemm_at(
                False, False, rows, gates, width, x, at * width, width, kernel, 0, gates, f32(0.0), xp,
                at * gates, gates,
            )  # fmt: skip
        raise_flag(flags, 2 * FLAG_STRIDE * c + FLAG_STRIDE)


@njit(cache=True, nogil=True)
def chunk_ready(x, kernel, xp, flags, c, n, steps, width, gates, chunk, backwards):
    """Returns once chunk `c` is projected: projecting it here if no thread has claimed it, else waiting on
    the thread that did, and projecting the chunks after it meanwhile. No thread waits on one that is not
    running, so one thread alone projects every chunk itself."""
    project_chunk(x, kernel, xp, flags, c, n, steps, width, gates, chunk, backwards)
    ahead, chunks = c + 1, (steps + chunk - 1) // chunk
    while not flag_raised(flags, 2 * FLAG_STRIDE * c + FLAG_STRIDE):
        if ahead < chunks:
            project_chunk(x, kernel, xp, flags, ahead, n, steps, width, gates, chunk, backwards)
            ahead += 1
        else:
            spin_pause()

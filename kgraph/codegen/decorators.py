"""How generated CPU functions are decorated, and how a parallel one splits its work: one place for the
program, loop, window, gather and recurrent-walk writers."""

# No nnan/ninf (NaN checks must work) and no reassoc/arcp: reassociating `a*k + -1e10*(1-k)` cancels to 0.
FASTMATH = "{'nsz', 'contract'}"
# Functions Python calls: a program's step, loop and seeding.
ENTRY_JIT = f"@njit(cache=True, nogil=True, error_model='numpy', fastmath={FASTMATH})"
# Kernels and their helpers, called from compiled code only (a program's step and loop): without the
# wrappers that let Python and C call them, each compiles ~20% faster.
JIT = ENTRY_JIT.replace("@njit(", "@njit(no_cpython_wrapper=True, no_cfunc_wrapper=True, ")
PARALLEL_JIT = JIT.replace("@njit(", "@njit(parallel=True, ")
# Zeroes a kernel's output as one flat fill (a memset): a loop per axis ran several times slower (a 10 MB
# embedding gradient zeroed in two blocks: 800 us against 183).
ZERO_OUT = "    view(out, 0, (out.size,))[:] = f32(0.0)\n"
# The first and last lines of a function Python calls, and of each Numba thread's block of a parallel one:
# kgraph's code runs with denormal floats flushed to zero, as XLA's does, and leaves each thread's float mode
# as it found it (codegen/intrinsics.py).
FLUSH_DENORMALS = "float_mode = flush_denormals()"
RESTORE_FLOAT_MODE = "restore_float_mode(float_mode)"


def flushed(lines: list[str], indent: str) -> list[str]:
    """`lines` between the two float-mode lines, written at `indent`."""
    return [indent + FLUSH_DENORMALS, *lines, indent + RESTORE_FLOAT_MODE]


def blocks_source(parts: str, units: str, call: str) -> list[str]:
    """Lines of a parallel function running `call` (source that reads `lo` and `hi`) on `parts` blocks of
    `units` rows (or columns), one block per Numba thread. One block runs on the caller: a `prange` of one
    still starts a parallel region, waking every thread (a batch-1 predict runs several such kernels)."""
    return [  # no early return: callers append lines that run after the blocks (stores, a scatter)
        f"    parts = {parts}",
        "    if parts == 1:",
        f"        lo, hi = 0, {units}",
        f"        {call}",
        "    else:",
        "        for p in prange(parts):",
        *flushed(  # a worker thread's own mode (the caller's is set already)
            [f"            lo, hi = p * {units} // parts, (p + 1) * {units} // parts", f"            {call}"],
            " " * 12,
        ),
    ]

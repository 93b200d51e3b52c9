"""How generated CPU functions are decorated: one place for the program, loop and recurrent-walk writers."""

# No nnan/ninf (NaN checks must work) and no reassoc/arcp: reassociating `a*k + -1e10*(1-k)` cancels to 0.
FASTMATH = "{'nsz', 'contract'}"
JIT = f"@njit(cache=True, nogil=True, error_model='numpy', fastmath={FASTMATH})"
PARALLEL_JIT = JIT.replace("@njit(", "@njit(parallel=True, ")

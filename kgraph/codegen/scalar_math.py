"""Scalar functions the generated CPU kernels call in place of slower libm ones.

libm's `tanhf` costs about 17 ns an element here and `expf` about 3 ns, and neither vectorizes (Numba has no
vector math library here). The functions below use arithmetic only (a clamp, two polynomials, one division),
so a loop over units that calls them compiles to 8-wide AVX2 code: an LSTM cell evaluates five of them per
unit per step, and this sets the speed of recurrent layers. `exp32` and `log32` are what the `exp` and `log`
ops lower to (a loop that sums as it goes, a softmax's, stays scalar: there they cost what libm does).

They are ordinary compiled functions, not inlined by Numba: LLVM inlines them into the kernel that links
them, and the loop still vectorizes, while Numba's own inlining typed a copy at every call site (an LSTM's
programs compiled 10% slower).

The coefficients of `tanh32` were fitted for kgraph with numpy (`fit_tanh` below reproduces them): a
rational minimax approximation of tanh(x) / x as a function of s = x * x on [0, 81], found by iteratively
reweighted linearized least squares (Lawson's method) in float64, then rounded to float32.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy import float32 as f32

from kgraph.codegen.intrinsics import bits_float, float_bits

TANH_CLAMP = 9.0  # float32 tanh(9) rounds to 1 (1 - tanh(9) = 3e-8, half an ulp below 1)
# tanh(x) = x * P(x^2) / Q(x^2) on |x| <= 9: max |error| 5.9e-9 exactly, <= 3e-7 evaluated in float32
TANH_P = (
    0.9999999403953552,
    0.130791574716568,
    0.003098647342994809,
    1.110174798668595e-05,
    -2.0029251146524985e-08,
    5.192542923415644e-11,
    -8.290929927193616e-14,
)
TANH_Q = (1.0, 0.46412476897239685, 0.024473734200000763, 0.00025385909248143435)


@njit(cache=True, fastmath={"nsz", "contract"}, error_model="numpy")
def tanh32(x):
    """float32 tanh with no branch and no libm call: absolute error <= 3e-7 (relative <= 3e-7 near 0);
    NaN in, NaN out (the clamp keeps NaN)."""
    x = min(max(x, f32(-TANH_CLAMP)), f32(TANH_CLAMP))
    s = x * x
    p = f32(TANH_P[6]) * s + f32(TANH_P[5])  # Horner's rule; Numba freezes the tuples as constants
    p = p * s + f32(TANH_P[4])
    p = p * s + f32(TANH_P[3])
    p = p * s + f32(TANH_P[2])
    p = p * s + f32(TANH_P[1])
    p = p * s + f32(TANH_P[0])
    q = f32(TANH_Q[3]) * s + f32(TANH_Q[2])
    q = q * s + f32(TANH_Q[1])
    q = q * s + f32(TANH_Q[0])
    return x * p / q


@njit(cache=True, fastmath={"nsz", "contract"}, error_model="numpy")
def sigmoid32(x):
    """float32 logistic sigmoid as 0.5 + 0.5 * tanh(x / 2): absolute error <= 2e-7 (not relative: for
    x < -16 the result is 0 or a few 1e-8, not exp(x))."""
    return f32(0.5) + f32(0.5) * tanh32(f32(0.5) * x)


# exp32: e^x = 2^n * e^r with n = round(x / ln 2) and |r| <= ln(2) / 2; ln 2 = LN2_HI + LN2_LO, LN2_HI with 9
# significant bits so that n * LN2_HI is exact (Cody and Waite's reduction); e^r by its Taylor series to r^7
# (the next term is below 6e-9 relative: under a tenth of a float32 step).
LOG2_E = 1.4426950408889634
LN2_HI = 0.693359375
LN2_LO = -2.1219444005469057e-4
EXP_LO, EXP_HI = -104.0, 89.0  # e^-104 rounds to 0 and e^89 to inf in float32
F32_TINY = 1.1754943508222875e-38  # the smallest normal float32
SQRT_2 = 1.4142135623730951


@njit(cache=True)
def _power_of_two(k):
    """2^k as a float32 for an int32 k in [-126, 127]: the exponent field set directly."""
    return bits_float((k + np.int32(127)) << np.int32(23))


@njit(cache=True, fastmath={"nsz", "contract"}, error_model="numpy")
def exp32(x):
    """float32 e^x with no branch and no libm call: within one float32 step of the exact value (0.91
    measured); inf for x > 88.7, 0 below -103.9, NaN for NaN. A loop over 320 entries: 0.96 us against 1.9."""
    x = min(max(x, f32(EXP_LO)), f32(EXP_HI))  # the clamp keeps NaN
    n = np.floor(x * f32(LOG2_E) + f32(0.5))  # a float32 (math.floor gives an int64)
    r = (x - n * f32(LN2_HI)) - n * f32(LN2_LO)
    p = f32(1.0 / 5040.0) * r + f32(1.0 / 720.0)
    p = p * r + f32(1.0 / 120.0)
    p = p * r + f32(1.0 / 24.0)
    p = p * r + f32(1.0 / 6.0)
    p = p * r + f32(0.5)
    p = p * r + f32(1.0)
    p = p * r + f32(1.0)
    k = np.int32(n if n == n else f32(0.0))  # n in [-150, 129]: 2^n in two factors (subnormal results, inf)
    half = k >> np.int32(1)
    return p * _power_of_two(half) * _power_of_two(k - half)


@njit(cache=True, fastmath={"nsz", "contract"}, error_model="numpy")
def log32(x):
    """float32 natural log with no branch and no libm call: within 3 float32 steps of the exact value (2.8
    measured); -inf at 0, NaN below 0 and for NaN, inf at inf. A loop over 320 entries: 0.72 us against 2.2.
    x = m * 2^e with m in [sqrt(2) / 2, sqrt(2)); log m = 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.172,
    by its series to s^11 (the next term is below 3e-9 relative)."""
    tiny = x < f32(F32_TINY)  # subnormal: scaled by 2^23 to read its exponent
    bits = float_bits(x * f32(8388608.0) if tiny else x)
    e = ((bits >> np.int32(23)) & np.int32(255)) - np.int32(150 if tiny else 127)
    m = bits_float((bits & np.int32(0x7FFFFF)) | np.int32(0x3F800000))  # in [1, 2)
    big = m > f32(SQRT_2)
    m = m * f32(0.5) if big else m
    e = e + np.int32(1) if big else e
    s = (m - f32(1.0)) / (m + f32(1.0))
    z = s * s
    p = f32(1.0 / 11.0) * z + f32(1.0 / 9.0)
    p = p * z + f32(1.0 / 7.0)
    p = p * z + f32(1.0 / 5.0)
    p = p * z + f32(1.0 / 3.0)
    p = p * z + f32(1.0)
    k = f32(e)
    result = k * f32(LN2_HI) + (k * f32(LN2_LO) + f32(2.0) * s * p)
    result = result if x < f32(np.inf) else x  # inf stays inf
    return result if x > f32(0.0) else (f32(-np.inf) if x == f32(0.0) else f32(np.nan))


def fit_tanh(p_degree: int = 6, q_degree: int = 3, clamp: float = TANH_CLAMP, iterations: int = 300):
    """Refits the coefficients (float64): returns (max abs error, P coefficients, Q coefficients), lowest
    power first, Q[0] = 1."""
    import numpy as np

    x = np.unique(
        np.concatenate([np.linspace(0, clamp, 40000), clamp * np.cos(np.linspace(0, np.pi / 2, 20000))])
    )
    f = np.tanh(x) / np.where(x > 0, x, 1.0)
    f[x == 0] = 1.0
    s = (x / clamp) ** 2  # scaled to [0, 1] for conditioning
    weights, q_prev, best = np.ones_like(x), np.ones_like(x), None
    for _ in range(iterations):
        basis_p = np.stack([s**k for k in range(p_degree + 1)], 1)
        basis_q = -np.stack([f * s**k for k in range(1, q_degree + 1)], 1)
        scale = np.sqrt(weights) * x / q_prev  # the residual is x * (P - f Q) / Q: tanh's absolute error
        matrix = np.concatenate([basis_p, basis_q], 1) * scale[:, None]
        solution = np.linalg.lstsq(matrix, f * scale, rcond=None)[0]
        p, q = solution[: p_degree + 1], np.concatenate([[1.0], solution[p_degree + 1 :]])
        q_prev = np.polynomial.polynomial.polyval(s, q)
        error = x * (np.polynomial.polynomial.polyval(s, p) / q_prev - f)
        worst = np.abs(error).max()
        if best is None or worst < best[0]:
            best = (worst, p, q)
        weights = np.maximum(weights * np.abs(error) / np.sum(weights * np.abs(error)), 1e-30)
    worst, p, q = best
    return worst, p / clamp ** (2 * np.arange(p_degree + 1)), q / clamp ** (2 * np.arange(q_degree + 1))

"""Scalar functions the generated CPU kernels call in place of slower libm ones.

libm's `tanhf` costs about 17 ns an element here and `expf` about 3 ns, and neither vectorizes (Numba has no
vector math library here). The functions below use arithmetic only (a clamp, two polynomials, one division),
so a loop over units that calls them compiles to 8-wide AVX2 code: an LSTM cell evaluates five of them per
unit per step, and this sets the speed of recurrent layers.

The coefficients of `tanh32` were fitted for kgraph with numpy (`fit_tanh` below reproduces them): a
rational minimax approximation of tanh(x) / x as a function of s = x * x on [0, 81], found by iteratively
reweighted linearized least squares (Lawson's method) in float64, then rounded to float32.
"""

from __future__ import annotations

from numba import njit
from numpy import float32 as f32

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


@njit(inline="always", fastmath={"nsz", "contract"}, error_model="numpy")
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


@njit(inline="always", fastmath={"nsz", "contract"}, error_model="numpy")
def sigmoid32(x):
    """float32 logistic sigmoid as 0.5 + 0.5 * tanh(x / 2): absolute error <= 2e-7 (not relative: for
    x < -16 the result is 0 or a few 1e-8, not exp(x))."""
    return f32(0.5) + f32(0.5) * tanh32(f32(0.5) * x)


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

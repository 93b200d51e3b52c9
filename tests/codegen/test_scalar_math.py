"""codegen/scalar_math.py: the branch-free float32 functions generated kernels call, against numpy in float64
over their whole range, at the edges of float32 (inf, NaN, zero, subnormals), and vectorized."""

import re

import numpy as np
import pytest
from numba import njit

from kgraph.codegen.scalar_math import exp32, log32, sigmoid32, tanh32

FASTMATH = {"nsz", "contract"}  # as generated kernels are compiled


def _elementwise(function):
    @njit(fastmath=FASTMATH, error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = function(x[i])

    def call(x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty_like(x)
        apply(x, out)
        return out

    call.apply = apply
    return call


exp_, log_, tanh_, sigmoid_ = (_elementwise(f) for f in (exp32, log32, tanh32, sigmoid32))


def _steps(got, exact):
    """|got - exact| in float32 steps (spacing) at the exact value."""
    return np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32))


def test_exp32_within_one_step_over_its_normal_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-87.3, 88.7, 1_000_001), rng.uniform(-2, 2, 200_000)]).astype(np.float32)
    assert _steps(exp_(x), np.exp(x.astype(np.float64))).max() <= 1.0


def test_exp32_edges():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 88.73, 200.0, -103.0, -104.0, -1e4, 1e-30], np.float32)
    expected = np.exp(x.astype(np.float64))
    got = exp_(x)
    np.testing.assert_array_equal(got[:2], [np.nan, np.inf])
    np.testing.assert_array_equal(got[2:5], [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(got[5:7], [np.inf, np.inf])
    np.testing.assert_allclose(got[7:], expected[7:].astype(np.float32), rtol=0, atol=2e-45)  # subnormals


def test_log32_within_three_steps_over_all_positive_floats():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            np.exp(rng.uniform(-87, 88.7, 1_000_000)),
            1.0 + rng.uniform(-1e-3, 1e-3, 200_000),  # near 1, where log is near 0
            np.geomspace(1.5e-45, 1e-37, 10_000),  # subnormals
        ]
    ).astype(np.float32)
    x = x[x > 0]
    assert _steps(log_(x), np.log(x.astype(np.float64))).max() <= 3.0


def test_log32_edges():
    got = log_(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1.0, 3.4e38], np.float32))
    np.testing.assert_array_equal(got[:7], [np.nan, np.inf, np.nan, -np.inf, -np.inf, np.nan, 0.0])
    np.testing.assert_allclose(got[7], np.log(3.4e38), rtol=1e-7)


def test_tanh32_and_sigmoid32_absolute_error():
    x = np.linspace(-30, 30, 600_001).astype(np.float32)
    exact = np.tanh(x.astype(np.float64))
    assert np.abs(tanh_(x) - exact).max() <= 3e-7
    assert np.abs(sigmoid_(x) - 1 / (1 + np.exp(-x.astype(np.float64)))).max() <= 2e-7
    np.testing.assert_array_equal(tanh_(np.array([np.nan, np.inf, -np.inf], np.float32)), [np.nan, 1.0, -1.0])


@pytest.mark.parametrize("call", [exp_, log_], ids=["exp32", "log32"])
def test_loops_calling_them_vectorize(call):
    """No libm call, and a loop over them becomes vector code (the reason they exist: libm's expf and logf
    are calls the vectorizer cannot widen)."""
    call(np.ones(16, np.float32))
    llvm_ir = "\n".join(call.apply.inspect_llvm().values())
    assert not re.search(r"@(llvm\.)?(exp|log)(f|\.f32)\b", llvm_ir)
    assert re.search(r"<(4|8|16) x float>", llvm_ir)

"""The activation functions of `keras.ops` beyond relu, sigmoid, tanh, softplus and the softmaxes, with its
names and defaults (`ops.gelu` is the tanh approximation by default; `activations.gelu` the exact form).

Each is a composition of primitive ops, so it runs eagerly on arrays and traces on symbolic tensors alike;
`kgraph.activations` is built on these.
"""

from __future__ import annotations

import math

from kgraph.ops.array_ops import (
    abs,
    erf,
    expm1,
    greater,
    greater_equal,
    less,
    maximum,
    minimum,
    relu,
    sigmoid,
    tanh,
    where,
)

__all__ = [
    "celu",
    "elu",
    "gelu",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "relu6",
    "selu",
    "silu",
    "softsign",
    "swish",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def leaky_relu(x, negative_slope: float = 0.2):
    """`x` where `x >= 0`, else `negative_slope * x`."""
    return where(greater_equal(x, 0.0), x, float(negative_slope) * x)


def relu6(x):
    """`min(max(x, 0), 6)`."""
    # The constant comes first so that at x == 6 the gradient goes to it, as jax.nn.relu6's does.
    return minimum(6.0, relu(x))


def elu(x, alpha: float = 1.0):
    """`x` where `x > 0`, else `alpha * (exp(x) - 1)`."""
    positive = greater(x, 0.0)
    # expm1 sees only non-positive values, so a large x cannot overflow into the unused branch.
    return where(positive, x, float(alpha) * expm1(where(positive, 0.0, x)))


def selu(x):
    """Scaled ELU: `scale * elu(x, alpha)` with the self-normalizing constants."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def celu(x, alpha: float = 1.0):
    """`max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)`."""
    return maximum(x, 0.0) + float(alpha) * expm1(minimum(x, 0.0) / float(alpha))


def softsign(x):
    """`x / (|x| + 1)`."""
    return x / (abs(x) + 1.0)


def silu(x):
    """Sigmoid linear unit (swish): `x * sigmoid(x)`."""
    return x * sigmoid(x)


swish = silu


def gelu(x, approximate: bool = True):
    """Gaussian error linear unit: `x * P(X <= x)` for a standard normal `X`.

    Args:
        x: Input tensor.
        approximate: the tanh approximation (the default of `keras.ops.gelu`) rather than the exact erf form.
    """
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3.0)
        return x * (0.5 * (1.0 + tanh(inner)))
    return 0.5 * x * (1.0 + erf(x * math.sqrt(0.5)))


def hard_sigmoid(x):
    """Piecewise linear sigmoid: `relu6(x + 3) / 6`."""
    return relu6(x + 3.0) / 6.0


def hard_silu(x):
    """`x * hard_sigmoid(x)`."""
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def hard_tanh(x):
    """`x` clipped to [-1, 1]."""
    return where(greater(x, 1.0), 1.0, where(less(x, -1.0), -1.0, x))

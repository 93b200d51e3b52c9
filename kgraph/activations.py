"""`kgraph.activations`: Keras 3's activation functions, written once with `kgraph.ops`.

Each function runs eagerly on arrays and traces on symbolic tensors. Formulas follow Keras 3 on the JAX
backend (which defers to `jax.nn`), down to which side of a kink a gradient takes where that was cheap to
keep. `get`, `serialize` and `deserialize` resolve activations by the names Keras accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kgraph import ops
from kgraph.ops.activation_ops import (  # noqa: F401 - activations by these names too
    celu,
    elu,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    hard_tanh,
    leaky_relu,
    relu6,
    selu,
    silu,
    softsign,
    swish,
)
from kgraph.saving.object_registration import get_registered_name


def relu(x, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0):
    """Rectified linear unit, with Keras's optional leak, cap and threshold.

    With the defaults this is `max(x, 0)`. Otherwise values at or below `threshold` become
    `negative_slope * (x - threshold)`, and values above it are capped at `max_value`.

    Args:
        x: Input tensor.
        negative_slope: Slope for values below the threshold.
        max_value: Largest output value (`None`: no cap).
        threshold: Values at or below it are damped (or zeroed).

    Returns:
        A tensor shaped like `x`.

    Example:

    >>> relu(np.array([-10.0, -5.0, 0.0, 5.0, 10.0]), max_value=5.0)
    array([0., 0., 0., 5., 5.], dtype=float32)
    """
    if negative_slope != 0.0 and max_value is None and threshold == 0:
        return leaky_relu(x, negative_slope=negative_slope)
    if threshold != 0:
        positive = ops.where(ops.greater(x, float(threshold)), x, 0.0)
    elif max_value == 6:
        positive = relu6(x)
    else:
        positive = ops.relu(x)
    if max_value is not None and not (threshold == 0 and max_value == 6):
        positive = ops.clip(positive, 0.0, float(max_value))
    if negative_slope == 0.0:
        return positive
    negative = ops.relu(float(threshold) - x) if threshold != 0 else ops.relu(-x)
    return positive - float(negative_slope) * negative


def sigmoid(x):
    """`1 / (1 + exp(-x))`."""
    return ops.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return ops.tanh(x)


def softmax(x, axis: int = -1):
    """`exp(x) / sum(exp(x))` along `axis` (shifted by the maximum for stability)."""
    return ops.softmax(x, axis=axis)


def log_softmax(x, axis: int = -1):
    """`x - log(sum(exp(x)))` along `axis`, computed stably."""
    return ops.log_softmax(x, axis=axis)


def linear(x):
    """The identity."""
    return x


def exponential(x):
    """`exp(x)`."""
    return ops.exp(x)


def softplus(x):
    """`log(1 + exp(x))`, computed without overflow."""
    return ops.softplus(x)


def gelu(x, approximate: bool = False):
    """Gaussian error linear unit: `x * P(X <= x)` for a standard normal `X`.

    Args:
        x: Input tensor.
        approximate: Use the tanh approximation instead of the exact erf form (the default of `ops.gelu`).
    """
    return ops.gelu(x, approximate=approximate)


def mish(x):
    """`x * tanh(softplus(x))`."""
    return x * ops.tanh(ops.softplus(x))


def log_sigmoid(x):
    """`log(sigmoid(x))`, computed as `-softplus(-x)`."""
    return ops.log_sigmoid(x)


def tanh_shrink(x):
    """`x - tanh(x)`."""
    return x - ops.tanh(x)


def soft_shrink(x, threshold: float = 0.5):
    """Moves `x` towards zero by `threshold`, and zeroes values within it."""
    threshold = float(threshold)
    return ops.where(
        ops.greater(x, threshold), x - threshold, ops.where(ops.less(x, -threshold), x + threshold, 0.0)
    )


def hard_shrink(x, threshold: float = 0.5):
    """`x` where `|x| > threshold`, else 0."""
    return ops.where(ops.greater(ops.abs(x), float(threshold)), x, 0.0)


def threshold(x, threshold: float, default_value: float):
    """`x` where `x > threshold`, else `default_value`."""
    return ops.where(ops.greater(x, float(threshold)), x, float(default_value))


def squareplus(x, b: float = 4):
    """`(x + sqrt(x**2 + b)) / 2`, a smooth relu."""
    return (x + ops.sqrt(ops.square(x) + float(b))) / 2.0


def sparse_plus(x):
    """0 below -1, `x` above 1, and `(x + 1)**2 / 4` between."""
    return ops.where(
        ops.less_equal(x, -1.0), 0.0, ops.where(ops.greater_equal(x, 1.0), x, ops.square(x + 1.0) / 4.0)
    )


def sparse_sigmoid(x):
    """`clip((x + 1) / 2, 0, 1)`."""
    return 0.5 * ops.clip(x + 1.0, 0.0, 2.0)


_BUILTINS: dict[str, Callable] = {
    fn.__name__: fn
    for fn in (
        relu,
        leaky_relu,
        relu6,
        softmax,
        celu,
        elu,
        selu,
        softplus,
        softsign,
        squareplus,
        soft_shrink,
        sparse_plus,
        silu,
        gelu,
        tanh,
        tanh_shrink,
        threshold,
        sigmoid,
        sparse_sigmoid,
        exponential,
        hard_sigmoid,
        hard_silu,
        hard_tanh,
        hard_shrink,
        linear,
        mish,
        log_softmax,
        log_sigmoid,
    )
}
_BUILTINS["swish"] = silu
_BUILTINS["hard_swish"] = hard_silu


def _unknown(identifier: Any) -> ValueError:
    return ValueError(
        f"Could not interpret activation function identifier: {identifier}. "
        f"Valid names are: {sorted(_BUILTINS)}"
    )


def serialize(activation: Callable) -> str | dict:
    """Returns the name of a built-in activation, or a Keras-style config dict for any other callable.

    Example:

    >>> serialize(swish)
    'silu'
    """
    name = getattr(activation, "__name__", None)
    if name is not None and _BUILTINS.get(name) is activation:
        return name
    if hasattr(activation, "get_config"):
        cls = type(activation)
        return {
            "module": cls.__module__,
            "class_name": cls.__name__,
            "config": activation.get_config(),
            "registered_name": cls.__name__,
        }
    if name is None:
        raise ValueError(f"Unknown activation function '{activation}' cannot be serialized: it has no name.")
    registered = get_registered_name(activation)  # "package>name" once registered, as Keras writes it
    return {
        "module": getattr(activation, "__module__", None),
        "class_name": "function",
        "config": registered,
        "registered_name": registered,
    }


def deserialize(config: str | dict, custom_objects: dict | None = None) -> Callable:
    """Returns the activation named by `config` (a name, or a dict made by `serialize`).

    Args:
        config: A name such as `'relu'`, or a dict with `class_name` and `config`.
        custom_objects: Optional dict mapping names to custom activations.

    Raises:
        ValueError: If the name is unknown.
    """
    custom_objects = custom_objects or {}
    if isinstance(config, dict):
        if config.get("class_name") != "function":
            cls = custom_objects.get(config.get("registered_name")) or custom_objects.get(
                config.get("class_name")
            )
            if cls is None:
                raise _unknown(config)
            return cls.from_config(config.get("config") or {})
        config = config.get("config")
    if isinstance(config, str):
        found = custom_objects.get(config) or _BUILTINS.get(config)
        if found is not None:
            return found
    raise _unknown(config)


def get(identifier: Any) -> Callable:
    """Retrieves an activation from `None` (linear), a name, a config dict or a callable.

    Raises:
        ValueError: If the identifier cannot be interpreted; the message lists the valid names.

    Example:

    >>> get("relu") is relu
    True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str | dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise _unknown(identifier)

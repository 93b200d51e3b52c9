"""Activations: numpy formulas, Keras 3 parity, the traced paths (interpreter and CPU), and get/serialize."""

import math
import os

import numpy as np
import pytest

from kgraph import activations
from kgraph.testing import run_traced

RTOL, ATOL = 1e-5, 1e-6
_erf = np.vectorize(math.erf)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


# Independent float64 formulas, one per built-in name.
REFERENCE = {
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "relu6": _relu6,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "log_softmax": lambda x: np.log(_softmax(x)),
    "linear": lambda x: x,
    "exponential": np.exp,
    "elu": _elu,
    "selu": lambda x: 1.0507009873554805 * _elu(x, 1.6732632423543772),
    "celu": lambda x: np.maximum(x, 0.0) + np.expm1(np.minimum(x, 0.0)),
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))),
    "hard_sigmoid": lambda x: _relu6(x + 3.0) / 6.0,
    "hard_silu": lambda x: x * _relu6(x + 3.0) / 6.0,
    "hard_swish": lambda x: x * _relu6(x + 3.0) / 6.0,
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "log_sigmoid": lambda x: -_softplus(-x),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "soft_shrink": lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0.0),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
    "squareplus": lambda x: (x + np.sqrt(x * x + 4.0)) / 2.0,
    "sparse_plus": lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, x, (x + 1.0) ** 2 / 4.0)),
    "sparse_sigmoid": lambda x: np.clip((x + 1.0) / 2.0, 0.0, 1.0),
}
# `threshold` has required arguments; it is checked separately.
NAMES = sorted(REFERENCE)


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.fixture(scope="module")
def x():
    values = np.random.default_rng(0).normal(scale=3.0, size=(16, 7)).astype(np.float32)
    values[0, :7] = [0.0, 6.0, -3.0, 3.0, 1.0, -1.0, 0.5]  # the kinks of the piecewise activations
    return values


def test_every_name_has_a_reference():
    assert set(activations._BUILTINS) == set(REFERENCE) | {"threshold"}


@pytest.mark.parametrize("name", NAMES)
def test_formula(name, x):
    out = activations.get(name)(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, REFERENCE[name](x.astype(np.float64)), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_interpreted_matches_eager(name, x):
    fn = activations.get(name)
    np.testing.assert_allclose(run_traced(fn, x, backend="numpy"), fn(x), rtol=RTOL, atol=ATOL)


def test_compiled_matches_eager(x):
    # One program for every activation (each compile costs seconds). `linear` is left out: a program whose
    # output is its input unchanged does not compile (a core bug, reported).
    names = [n for n in NAMES if n != "linear"]
    outputs = run_traced(lambda t: tuple(activations.get(n)(t) for n in names), x, backend="cpu")
    for name, out in zip(names, outputs, strict=True):
        np.testing.assert_allclose(out, activations.get(name)(x), rtol=RTOL, atol=ATOL, err_msg=name)


RELU_VARIANTS = [
    {},
    {"negative_slope": 0.1},
    {"max_value": 6.0},
    {"max_value": 2.5},
    {"threshold": 0.5},
    {"threshold": -1.0, "max_value": 4.0},
    {"negative_slope": 0.1, "max_value": 6},
    {"negative_slope": 0.3, "threshold": 1.0, "max_value": 4.0},
    {"negative_slope": 0.2, "threshold": 1.0},
]


def _relu_reference(x, negative_slope=0.0, max_value=None, threshold=0.0):
    # Keras: x above the threshold (capped into [0, max_value] when capped), minus the leak below it.
    kept = np.where(x > threshold, x, 0.0)
    if max_value is not None:
        kept = np.clip(kept, 0.0, max_value)
    return kept - negative_slope * np.maximum(threshold - x, 0.0)


@pytest.mark.parametrize("kwargs", RELU_VARIANTS)
def test_relu_arguments(kwargs, x):
    np.testing.assert_allclose(
        activations.relu(x, **kwargs), _relu_reference(x, **kwargs), rtol=RTOL, atol=ATOL
    )
    traced = run_traced(lambda t: activations.relu(t, **kwargs), x, backend="numpy")
    np.testing.assert_allclose(traced, activations.relu(x, **kwargs), rtol=RTOL, atol=ATOL)


def test_arguments_of_parametrized_activations(x):
    np.testing.assert_allclose(activations.leaky_relu(x, 0.05), np.where(x >= 0, x, 0.05 * x), rtol=RTOL)
    np.testing.assert_allclose(activations.elu(x, alpha=0.5), _elu(x, 0.5), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(activations.softmax(x, axis=0), _softmax(x, axis=0), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        activations.log_softmax(x, axis=0), np.log(_softmax(x, 0)), rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(activations.threshold(x, 0.3, -2.0), np.where(x > 0.3, x, -2.0))
    tanh_form = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x.astype(np.float64) ** 3)))
    np.testing.assert_allclose(activations.gelu(x, approximate=True), tanh_form, rtol=RTOL, atol=ATOL)


def test_softmax_is_stable_for_large_inputs():
    out = activations.softmax(np.array([[1000.0, 1000.0, -1000.0]], np.float32))
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.0]])
    assert np.all(np.isfinite(activations.log_softmax(np.array([[1e4, 0.0]], np.float32))))


@pytest.mark.keras
@pytest.mark.parametrize("name", NAMES)
def test_matches_keras(name, x, keras):
    expected = np.asarray(getattr(keras.activations, name)(x))
    np.testing.assert_allclose(activations.get(name)(x), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.keras
@pytest.mark.parametrize("kwargs", RELU_VARIANTS)
def test_relu_arguments_match_keras(kwargs, x, keras):
    expected = np.asarray(keras.activations.relu(x, **kwargs))
    np.testing.assert_allclose(activations.relu(x, **kwargs), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.keras
def test_arguments_match_keras(x, keras):
    ka = keras.activations
    for ours, theirs in [
        (activations.gelu(x, approximate=True), ka.gelu(x, approximate=True)),
        (activations.elu(x, alpha=0.3), ka.elu(x, alpha=0.3)),
        (activations.leaky_relu(x, negative_slope=0.05), ka.leaky_relu(x, negative_slope=0.05)),
        (activations.softmax(x, axis=0), ka.softmax(x, axis=0)),
        (activations.threshold(x, 0.3, -2.0), ka.threshold(x, 0.3, -2.0)),
        (activations.celu(x, alpha=2.0), ka.celu(x, alpha=2.0)),
        (activations.soft_shrink(x, threshold=1.0), ka.soft_shrink(x, threshold=1.0)),
        (activations.squareplus(x, b=2), ka.squareplus(x, b=2)),
    ]:
        np.testing.assert_allclose(ours, np.asarray(theirs), rtol=RTOL, atol=ATOL)


@pytest.mark.keras
def test_names_match_keras(keras):
    from keras.src.activations import ALL_OBJECTS_DICT

    # glu and sparsemax need slicing and sorting, which kgraph.ops lacks.
    assert set(activations._BUILTINS) == set(ALL_OBJECTS_DICT) - {"glu", "sparsemax"}


@pytest.mark.keras
def test_default_arguments_match_keras(keras):
    import inspect

    def arguments(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in [*NAMES, "threshold"]:
        assert arguments(getattr(activations, name)) == arguments(getattr(keras.activations, name)), name


def test_get():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu

    def custom(t):
        return t

    assert activations.get(custom) is custom
    assert activations.get({"class_name": "function", "config": "tanh"}) is activations.tanh


@pytest.mark.parametrize("identifier", ["nope", "Relu", 3])
def test_get_unknown_lists_valid_names(identifier):
    with pytest.raises(ValueError, match="Could not interpret activation function identifier") as info:
        activations.get(identifier)
    assert "'relu'" in str(info.value) and "'softmax'" in str(info.value)


@pytest.mark.parametrize("name", [*NAMES, "threshold"])
def test_serialize_round_trip(name):
    fn = activations.get(name)
    assert activations.deserialize(activations.serialize(fn)) is fn


def test_serialize_forms():
    assert activations.serialize(activations.swish) == "silu"
    assert activations.serialize(activations.relu) == "relu"

    def custom(t):
        return t

    config = activations.serialize(custom)
    assert config["class_name"] == "function" and config["config"] == "custom"
    assert activations.deserialize(config, custom_objects={"custom": custom}) is custom
    with pytest.raises(ValueError, match="Valid names"):
        activations.deserialize(config)

"""ReLU, LeakyReLU, ELU, Softmax, PReLU, Rescaling, Identity, UnitNormalization, ActivityRegularization:
the layer-test helper, Keras parity, gradients, masks, errors."""

import numpy as np
import pytest

import kgraph
from kgraph import layers
from kgraph.testing import run_layer_test, run_traced
from tests.layers.checks import assert_matches_keras, check_layer_gradients

RNG = np.random.default_rng(0)
X = RNG.normal(scale=2.0, size=(4, 3, 5)).astype(np.float32)

CASES = [
    ("ReLU", {}),
    ("ReLU", {"max_value": 1.5, "negative_slope": 0.1, "threshold": 0.5}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.05}),
    ("ELU", {"alpha": 0.7}),
    ("Softmax", {}),
    ("Softmax", {"axis": 1}),
    ("Softmax", {"axis": [1, 2]}),
    ("PReLU", {"alpha_initializer": "ones"}),
    ("PReLU", {"alpha_initializer": "random_uniform", "shared_axes": [1]}),
]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_layer_test(name, kwargs):
    weights = 1 if name == "PReLU" else 0
    shape = (None, 3, 5)
    run_layer_test(getattr(layers, name), kwargs, shape, shape, weights, run_training_check=bool(weights))


@pytest.mark.keras
@pytest.mark.parametrize("name,kwargs", CASES)
def test_matches_keras(name, kwargs):
    keras = pytest.importorskip("keras")
    assert_matches_keras(getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs), X)


@pytest.mark.parametrize("name,kwargs", [c for c in CASES if c[0] != "ReLU" or not c[1]])
def test_gradients(name, kwargs):
    check_layer_gradients(getattr(layers, name)(**kwargs), X)


def test_softmax_mask_zeroes_masked_positions():
    mask = (RNG.random((4, 3, 5)) > 0.3).astype(np.float32)
    mask[0, 0] = 0.0  # a row masked whole gives zeros, not a uniform distribution
    got = run_traced(lambda x, m: layers.Softmax()(x, mask=m), X, mask, backend="cpu")
    exps = np.where(mask > 0.5, np.exp(X - X.max(-1, keepdims=True)), 0.0)
    expected = exps / np.maximum(exps.sum(-1, keepdims=True), 1e-30)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="broadcastable"):
        layers.Softmax()(X, mask=np.ones((4, 3, 4), np.float32))


def test_arguments_are_checked_as_in_keras():
    with pytest.raises(ValueError, match="negative_slope"):
        layers.ReLU(negative_slope=-1.0)
    with pytest.raises(ValueError, match="max_value"):
        layers.ReLU(max_value=-1.0)
    with pytest.raises(ValueError, match="negative_slope"):
        layers.LeakyReLU(negative_slope=None)
    with pytest.warns(UserWarning, match="alpha"):
        assert layers.LeakyReLU(alpha=0.2).negative_slope == 0.2
    prelu = layers.PReLU(shared_axes=[1, 2])
    prelu.build((None, 3, 5))
    assert prelu.alpha.shape == (1, 1)


@pytest.mark.parametrize(
    "kwargs", [{"scale": 1.0 / 255}, {"scale": [1.0, 0.5, 2.0, 1.0, 3.0], "offset": -1.0}]
)
def test_rescaling(kwargs):
    expected = X * np.asarray(kwargs["scale"], np.float32) + kwargs.get("offset", 0.0)
    run_layer_test(
        layers.Rescaling, kwargs, (None, 3, 5), (None, 3, 5), expected_output=expected, input_data=X
    )


@pytest.mark.keras
def test_rescaling_and_identity_match_keras():
    keras = pytest.importorskip("keras")
    assert_matches_keras(layers.Rescaling(0.5, offset=2.0), keras.layers.Rescaling(0.5, offset=2.0), X)
    assert_matches_keras(layers.Identity(), keras.layers.Identity(), X)


@pytest.mark.parametrize("axis", [-1, [1, 2]])
def test_unit_normalization(axis):
    axes = (-1,) if axis == -1 else tuple(axis)
    expected = X / np.sqrt((X * X).sum(axis=axes, keepdims=True))
    kwargs = {"axis": axis}
    run_layer_test(
        layers.UnitNormalization, kwargs, (None, 3, 5), (None, 3, 5), input_data=X, expected_output=expected
    )
    check_layer_gradients(layers.UnitNormalization(axis=axis), X)


@pytest.mark.keras
def test_unit_normalization_and_activity_regularization_match_keras():
    keras = pytest.importorskip("keras")
    assert_matches_keras(layers.UnitNormalization([1, 2]), keras.layers.UnitNormalization([1, 2]), X)
    x, y = X.reshape(4, 15), np.ones((4, 1), np.float32)
    losses = []
    for lib in (keras, kgraph):
        model = lib.Sequential(
            [lib.Input((15,)), lib.layers.ActivityRegularization(l1=0.01, l2=0.02), lib.layers.Dense(1)]
        )
        model.compile(optimizer="sgd", loss="mse")
        model.layers[-1].set_weights([np.full((15, 1), 0.1, np.float32), np.zeros(1, np.float32)])
        losses.append(model.evaluate(x, y, verbose=0))
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    config = layers.ActivityRegularization(l1=0.01).get_config()
    assert "activity_regularizer" not in config and config["l1"] == 0.01

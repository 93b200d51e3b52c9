"""Lambda: a function of `kgraph.ops` as a layer; traced, trained, saved (lambdas with safe_mode=False)."""

import numpy as np
import pytest

import kgraph
from kgraph import layers, ops
from kgraph.testing import run_layer_test

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 4)).astype(np.float32)


@kgraph.saving.register_keras_serializable(package="tests")
def scaled_square(x, factor=1.0):
    return ops.square(x) * factor


def test_layer_test_named_function_with_arguments_and_output_shape():
    run_layer_test(
        layers.Lambda,
        {"function": scaled_square, "arguments": {"factor": 3.0}, "output_shape": (4,)},
        (None, 4),
        (None, 4),
        input_data=X,
        expected_output=3.0 * X**2,
        run_training_check=False,
    )


def test_output_shape_traced_and_training_argument():
    model = kgraph.Sequential(
        [
            kgraph.Input((4,)),
            layers.Dense(3),
            layers.Lambda(lambda x, training=None: x[:, :2] * (2.0 if training else 1.0)),
            layers.Dense(1),
        ]
    )
    assert model.output_shape == (None, 1) and model.layers[1].compute_output_shape((None, 3)) == (None, 2)
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    model.fit(X, X[:, :1], epochs=1, verbose=0)
    assert not np.allclose(model.get_weights()[0], before[0])
    hidden = X @ model.get_weights()[0] + model.get_weights()[1]
    expected = hidden[:, :2] @ model.get_weights()[2] + model.get_weights()[3]
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_saved_lambda_loads_only_outside_safe_mode(tmp_path):
    model = kgraph.Sequential([kgraph.Input((4,)), layers.Lambda(lambda x: x * 2.0 + 1.0), layers.Dense(2)])
    path = tmp_path / "model.keras"
    model.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        kgraph.saving.load_model(path)
    restored = kgraph.saving.load_model(path, safe_mode=False)
    np.testing.assert_allclose(restored.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


@pytest.mark.keras
def test_lambda_models_interchange_with_keras(tmp_path):
    keras = pytest.importorskip("keras")
    ours = kgraph.Sequential([kgraph.Input((4,)), layers.Lambda(lambda x: x * 2.0 + 1.0), layers.Dense(2)])
    ours.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras", safe_mode=False)
    expected = ours.predict(X, verbose=0)
    np.testing.assert_allclose(np.asarray(theirs.predict(X, verbose=0)), expected, rtol=1e-5)
    theirs.save(tmp_path / "theirs.keras")
    back = kgraph.saving.load_model(tmp_path / "theirs.keras", safe_mode=False)
    np.testing.assert_allclose(back.predict(X, verbose=0), expected, rtol=1e-5)

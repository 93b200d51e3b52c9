"""Parity with Keras 3 (JAX backend, CPU) as the oracle: same weights give the same predictions, and the same
training run gives the same loss history and weights."""

import numpy as np
import pytest

import kgraph

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.keras


def _build(module, hidden_activation="relu", regularized=False):
    reg = module.regularizers.L2(1e-3) if regularized else None
    return module.Sequential(
        [
            module.Input((12,)),
            module.layers.Dense(16, activation=hidden_activation, kernel_regularizer=reg),
            module.layers.Dense(8, activation="tanh"),
            module.layers.Dense(4, activation="softmax"),
        ]
    )


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[(x[:, :4].argmax(1))]
    return x, y


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "elu", "gelu", "swish"])
def test_same_weights_same_predictions(activation):
    x, _ = _data()
    reference = _build(keras, activation)
    model = _build(kgraph, activation)
    model.set_weights(reference.get_weights())
    np.testing.assert_allclose(
        model.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


OPTIMIZERS = {
    "sgd": lambda m: m.optimizers.SGD(learning_rate=0.05),
    "sgd_nesterov": lambda m: m.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adam": lambda m: m.optimizers.Adam(learning_rate=0.01),
    "rmsprop": lambda m: m.optimizers.RMSprop(learning_rate=0.005),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_two_epochs_of_training_match(name):
    x, y = _data()
    reference = _build(keras, regularized=True)
    model = _build(kgraph, regularized=True)
    model.set_weights(reference.get_weights())
    for m, module in ((reference, keras), (model, kgraph)):
        m.compile(optimizer=OPTIMIZERS[name](module), loss="categorical_crossentropy", metrics=["accuracy"])
    expected = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    got = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-3)
    np.testing.assert_allclose(got["accuracy"], expected["accuracy"], rtol=1e-3)
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-5)


def test_regression_with_sample_weights_matches():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5, 1)) + 0.1).astype(np.float32)
    weights = np.linspace(0.2, 2.0, 64).astype(np.float32)

    def build(module):
        model = module.Sequential(
            [module.Input((5,)), module.layers.Dense(8, activation="tanh"), module.layers.Dense(1)]
        )
        model.compile(
            optimizer=module.optimizers.SGD(learning_rate=0.02, momentum=0.5), loss="mse", metrics=["mae"]
        )
        return model

    reference, model = build(keras), build(kgraph)
    model.set_weights(reference.get_weights())
    expected = reference.fit(
        x, y, sample_weight=weights, batch_size=16, epochs=2, shuffle=False, verbose=0
    ).history
    got = model.fit(x, y, sample_weight=weights, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-3)
    np.testing.assert_allclose(got["mae"], expected["mae"], rtol=1e-3)
    np.testing.assert_allclose(
        model.evaluate(x, y, verbose=0), reference.evaluate(x, y, verbose=0), rtol=1e-4
    )


def test_weight_constraints_are_applied_after_each_step():
    x, y = _data(48)

    def build(module):
        model = module.Sequential(
            [
                module.Input((12,)),
                module.layers.Dense(6, activation="relu", kernel_constraint=module.constraints.NonNeg()),
                module.layers.Dense(
                    4, activation="softmax", kernel_constraint=module.constraints.MaxNorm(0.5)
                ),
            ]
        )
        model.compile(optimizer=module.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
        return model

    reference, model = build(keras), build(kgraph)
    model.set_weights(reference.get_weights())
    reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert model.get_weights()[0].min() >= 0
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-5)

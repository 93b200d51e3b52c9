"""Normalization: the layer-test helper, Keras's documented examples, adapt against numpy and Keras, a model
around it (fit, save and load, Keras parity), errors."""

import numpy as np
import pytest

import kgraph
from kgraph import layers
from kgraph.testing import run_layer_test

RNG = np.random.default_rng(0)
X = RNG.normal(loc=3.0, scale=2.0, size=(6, 3, 4)).astype(np.float32)


@pytest.mark.parametrize(
    ("kwargs", "non_trainable"),
    [
        ({"axis": -1}, 3),
        ({"axis": (1, 2)}, 3),
        ({"axis": None}, 3),
        ({"mean": [1.0, 2.0, 3.0, 4.0], "variance": 4.0 * np.ones(4)}, 0),
    ],
)
def test_layer_helper(kwargs, non_trainable):
    # Given statistics, or a layer not adapted yet (mean 0, variance 1).
    expected = (X - np.array([1.0, 2.0, 3.0, 4.0])) / 2.0 if "mean" in kwargs else X
    run_layer_test(
        layers.Normalization,
        kwargs,
        (None, 3, 4),
        (None, 3, 4),
        expected_num_non_trainable_weights=non_trainable,
        input_data=X,
        expected_output=expected,
    )


def test_keras_documented_examples():
    """The examples of Keras's Normalization docstring, with the outputs it documents."""
    layer = layers.Normalization(axis=None)
    layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32))
    np.testing.assert_allclose(layer(np.array([1.0, 2.0, 3.0], np.float32)), [-1.4142135, -0.70710677, 0.0])
    data = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]], np.float32)
    layer = layers.Normalization(axis=-1)
    layer.adapt(data)
    np.testing.assert_allclose(layer(np.array([[0.0, 7.0, 4.0]], np.float32)), [[-1.0, -1.0, -1.0]])
    layer = layers.Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(
        layer(np.array([[1.0], [2.0], [3.0]], np.float32)), [[-1.4142135], [-0.70710677], [0.0]]
    )
    layer = layers.Normalization(axis=-1, invert=True)
    layer.adapt(data)
    np.testing.assert_allclose(layer(np.array([[1.0, 2.0, 3.0]], np.float32)), [[2.0, 10.0, 8.0]])


@pytest.mark.parametrize("axis", [-1, (1, 2), None, 1])
def test_adapt_learns_the_statistics_of_the_kept_axes(axis):
    layer = layers.Normalization(axis=axis)
    layer.adapt(X)
    kept = () if axis is None else tuple(a % 3 for a in ((axis,) if isinstance(axis, int) else axis))
    reduced = tuple(a for a in range(3) if a not in kept)
    mean, variance, count = layer.get_weights()
    np.testing.assert_allclose(mean, X.mean(axis=reduced), rtol=1e-5)
    np.testing.assert_allclose(variance, X.var(axis=reduced), rtol=1e-5)
    assert count == 0  # as in Keras: kept for files of older versions
    expected = (X - X.mean(axis=reduced, keepdims=True)) / np.sqrt(X.var(axis=reduced, keepdims=True))
    np.testing.assert_allclose(layer(X), expected, rtol=1e-4, atol=1e-5)
    # Batches (an iterable, (x, y) tuples too) give the statistics of their union.
    batched = layers.Normalization(axis=axis)
    batched.adapt([(X[:2], None), X[2:5], X[5:]])
    np.testing.assert_allclose(batched.get_weights()[0], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched.get_weights()[1], variance, rtol=1e-4, atol=1e-6)


@pytest.mark.keras
def test_adapt_and_outputs_match_keras():
    keras = pytest.importorskip("keras")
    for kwargs in ({"axis": -1}, {"axis": (1, 2), "invert": True}, {"axis": None}):
        ours, theirs = layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
        for layer in (ours, theirs):
            layer.adapt(X)  # Keras adapts to batches only with TensorFlow installed
        for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours(X), theirs(X), rtol=1e-5, atol=1e-5)
    given = {"axis": (1, 2), "mean": [0.5, 1.0, 1.5, 2.0], "variance": [1.0, 4.0, 9.0, 0.0]}
    np.testing.assert_allclose(
        layers.Normalization(**given)(X), keras.layers.Normalization(**given)(X), rtol=1e-5, atol=1e-5
    )


def test_regression_model_around_an_adapted_layer_trains_saves_and_loads(tmp_path):
    """Keras's basic regression tutorial: a Normalization adapted to the features, then Dense layers."""
    rng = np.random.default_rng(1)
    x = rng.normal(loc=[10.0, -5.0, 100.0], scale=[1.0, 3.0, 20.0], size=(256, 3)).astype(np.float32)
    y = (x @ np.array([[0.5], [-1.0], [0.02]], np.float32)).astype(np.float32)
    normalizer = layers.Normalization(axis=-1)
    normalizer.adapt(x)
    kgraph.utils.set_random_seed(0)
    model = kgraph.Sequential([normalizer, layers.Dense(16, activation="relu"), layers.Dense(1)])
    model.compile(optimizer=kgraph.optimizers.Adam(0.05), loss="mean_absolute_error")
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.25 * history.history["loss"][0]
    np.testing.assert_allclose(normalizer.get_weights()[0], x.mean(0), rtol=1e-5)  # not trained
    path = tmp_path / "regression.keras"
    model.save(path)
    loaded = kgraph.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert loaded.layers[0].get_config()["axis"] in ((-1,), [-1])


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="same shape"):
        layers.Normalization(mean=[1.0, 2.0], variance=1.0)
    with pytest.raises(ValueError, match=r"range \[-ndim, ndim\)"):
        layers.Normalization(axis=3).build((None, 4))
    with pytest.raises(ValueError, match="known shape"):
        layers.Normalization(axis=0).build((None, 4))
    layer = layers.Normalization()
    layer.adapt(X)
    with pytest.raises(ValueError, match="incompatible shape"):
        layer.adapt(X[:, :, :2])
    with pytest.raises(ValueError, match="empty iterable"):
        layers.Normalization().adapt([])
    with pytest.raises(ValueError, match="cannot adapt"):
        layers.Normalization(mean=1.0, variance=1.0).adapt(X)


@pytest.mark.keras
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_with_an_adapted_layer_load_across_the_two_libraries(tmp_path, suffix):
    keras = pytest.importorskip("keras")
    x = X.reshape(-1, 4)
    for writer, reader in ((kgraph, keras), (keras, kgraph)):
        normalizer = writer.layers.Normalization()
        normalizer.adapt(x)
        model = writer.Sequential([writer.Input((4,)), normalizer, writer.layers.Dense(2)])
        path = tmp_path / f"{writer.__name__}{suffix}"
        model.save(path)  # Keras stores the count as an integer
        loaded = reader.models.load_model(path, compile=False)
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
        )

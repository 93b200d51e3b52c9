"""Models with BatchNormalization (non-trainable moving statistics) and LayerNormalization move both ways
between Keras 3 and kgraph: `.keras`, legacy `.h5` and `.weights.h5` files give identical predictions and
weights."""

import numpy as np
import pytest

import kgraph
from tests.saving.models import h5_tree, weights_by_path

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.keras


def _model(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((6,)),
            L.Dense(8, use_bias=False, name="dense"),
            L.BatchNormalization(momentum=0.8, name="bn"),
            L.Activation("relu", name="relu"),
            L.Dense(4, name="hidden"),
            L.LayerNormalization(name="ln"),
            L.BatchNormalization(center=False, name="bn_no_center"),
            L.Dense(2, activation="softmax", name="out"),
        ],
        name="bn_model",
    )


def _data(n=32):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(n, 6)) * 2 + 1).astype(np.float32)
    return x, np.eye(2, dtype=np.float32)[(x[:, 0] > 1).astype(int)]


def _trained(lib):
    model = _model(lib)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # moves the statistics away from 0 and 1
    return model


def _assert_same(loaded, original, x):
    want = original.predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    want_w, got_w = weights_by_path(original), weights_by_path(loaded)
    assert got_w.keys() == want_w.keys()
    for key in want_w:
        np.testing.assert_array_equal(got_w[key], want_w[key], err_msg=key)
    assert np.abs(got_w["bn/moving_mean"]).max() > 0, "the moving statistics were trained"


def test_keras_file_loads_in_kgraph(tmp_path):
    keras.utils.set_random_seed(0)
    original = _trained(keras)
    original.save(tmp_path / "model.keras")
    original.save(tmp_path / "legacy.h5")
    original.save_weights(tmp_path / "model.weights.h5")
    x, _ = _data()
    _assert_same(kgraph.models.load_model(tmp_path / "model.keras"), original, x)
    _assert_same(kgraph.models.load_model(tmp_path / "legacy.h5"), original, x)
    fresh = _model(kgraph)
    fresh.load_weights(tmp_path / "model.weights.h5")
    _assert_same(fresh, original, x)
    assert [w.name for w in fresh.get_layer("bn").non_trainable_weights] == ["moving_mean", "moving_variance"]


def test_kgraph_file_loads_in_keras(tmp_path):
    kgraph.utils.set_random_seed(0)
    original = _trained(kgraph)
    original.save(tmp_path / "model.keras")
    original.save(tmp_path / "legacy.h5")
    original.save_weights(tmp_path / "model.weights.h5")
    x, y = _data()
    _assert_same(keras.models.load_model(tmp_path / "legacy.h5"), original, x)
    loaded = keras.models.load_model(tmp_path / "model.keras")
    _assert_same(loaded, original, x)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0)  # Keras trains on from kgraph's state
    fresh = _model(keras)
    fresh.load_weights(tmp_path / "model.weights.h5")
    _assert_same(fresh, original, x)


def test_weights_file_layout_matches_keras(tmp_path):
    _model(keras).save_weights(tmp_path / "theirs.weights.h5")
    _model(kgraph).save_weights(tmp_path / "ours.weights.h5")
    assert h5_tree(tmp_path / "ours.weights.h5") == h5_tree(tmp_path / "theirs.weights.h5")

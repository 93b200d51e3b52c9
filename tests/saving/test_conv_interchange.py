"""A small CNN moves both ways between Keras 3 and kgraph (`.keras`, legacy `.h5`, `.weights.h5`), with the
same predictions, weights and configs."""

import numpy as np
import pytest

import kgraph
from tests.saving.models import weights_by_path

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.keras


def _cnn(lib, name="cnn"):
    return lib.Sequential(
        [
            lib.Input((10, 9, 2)),
            lib.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
            lib.layers.MaxPooling2D(name="pool"),
            lib.layers.SeparableConv2D(5, 3, depth_multiplier=2, name="separable"),
            lib.layers.Conv2DTranspose(3, 2, strides=2, name="transpose"),
            lib.layers.DepthwiseConv2D(3, name="depthwise"),
            lib.layers.AveragePooling2D(2, padding="same", name="average"),
            lib.layers.Flatten(name="flatten"),
            lib.layers.Dense(3, activation="softmax", name="head"),
        ],
        name=name,
    )


def _data(n=12):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 10, 9, 2)).astype(np.float32)
    return x, rng.integers(0, 3, size=n)


def _assert_same(ours, theirs, x):
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    want, got = weights_by_path(theirs), weights_by_path(ours)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_cnn_loads_in_kgraph(tmp_path, suffix):
    keras.utils.set_random_seed(0)
    theirs = _cnn(keras)
    theirs.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data()
    theirs.fit(x, y, batch_size=6, epochs=1, verbose=0)
    theirs.save(tmp_path / f"cnn{suffix}")
    ours = kgraph.models.load_model(tmp_path / f"cnn{suffix}")
    _assert_same(ours, theirs, x)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_kgraph_cnn_loads_in_keras(tmp_path, suffix):
    kgraph.utils.set_random_seed(0)
    ours = _cnn(kgraph)
    ours.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _data()
    ours.fit(x, y, batch_size=6, epochs=1, verbose=0)
    ours.save(tmp_path / f"cnn{suffix}")
    theirs = keras.models.load_model(tmp_path / f"cnn{suffix}")
    _assert_same(ours, theirs, x)


def test_weights_files_both_ways(tmp_path):
    keras.utils.set_random_seed(1)
    theirs, ours = _cnn(keras), _cnn(kgraph)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.load_weights(tmp_path / "theirs.weights.h5")
    x, _ = _data()
    _assert_same(ours, theirs, x)
    kgraph.utils.set_random_seed(2)
    ours = _cnn(kgraph, name="cnn2")
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    _assert_same(ours, theirs, x)


def _as_json(value):
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    return [_as_json(item) for item in value] if isinstance(value, list | tuple) else value


def test_configs_match_keras():
    theirs, ours = _cnn(keras), _cnn(kgraph)
    for mine, reference in zip(ours.get_config()["layers"], theirs.get_config()["layers"], strict=True):
        if reference["class_name"] not in ("InputLayer", "Flatten"):  # convolution, pooling and Dense
            assert _as_json(mine) == _as_json(reference)
    rebuilt = kgraph.Sequential.from_config(theirs.get_config())
    assert [type(layer).__name__ for layer in rebuilt.layers] == [
        type(layer).__name__ for layer in theirs.layers
    ]

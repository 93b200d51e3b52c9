"""Recurrent models move both ways between Keras 3 and kgraph (`.keras`, legacy `.h5`, `.weights.h5`): the
same predictions, weights, optimizer state and layer configs.

Keras keeps a recurrent layer's weights on its cell (`layers/lstm/cell/vars`), a Bidirectional's on its two
halves (`forward_layer/cell/vars`, `backward_layer/cell/vars`) and a TimeDistributed's on the wrapped layer
(`layer/vars`); kgraph writes and reads the same groups.
"""

import json
import zipfile

import numpy as np
import pytest

import kgraph
from tests.saving.models import h5_tree, weights_by_path

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.keras

STEPS, VOCAB = 6, 10


def _recurrent(lib, name="recurrent"):
    """Embedding(mask_zero) -> Bidirectional(LSTM, sequences) -> GRU -> Dense."""
    return lib.Sequential(
        [
            lib.Input((STEPS,), dtype="int32"),
            lib.layers.Embedding(VOCAB, 4, mask_zero=True, name="embedding"),
            lib.layers.Bidirectional(
                lib.layers.LSTM(3, return_sequences=True, name="lstm"), name="bidirectional"
            ),
            lib.layers.GRU(3, name="gru"),
            lib.layers.Dense(2, name="head"),
        ],
        name=name,
    )


def _simple(lib, name="simple"):
    """Masking -> SimpleRNN (sequences) -> TimeDistributed(Dense), a functional model."""
    inputs = lib.Input((STEPS, 3), name="x")
    x = lib.layers.Masking(0.0, name="masking")(inputs)
    x = lib.layers.SimpleRNN(4, return_sequences=True, name="simple_rnn")(x)
    outputs = lib.layers.TimeDistributed(lib.layers.Dense(2, name="dense"), name="time_distributed")(x)
    return lib.Model(inputs, outputs, name=name)


def _tokens(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, size=(n, STEPS))
    for row, length in enumerate(rng.integers(2, STEPS + 1, size=n)):
        x[row, length:] = 0  # padding, masked by the embedding
    return x.astype(np.int32), rng.normal(size=(n, 2)).astype(np.float32)


def _sequences(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, STEPS, 3)).astype(np.float32)
    x[::2, -2:] = 0.0  # masked steps
    return x, rng.normal(size=(n, STEPS, 2)).astype(np.float32)


CASES = {"recurrent": (_recurrent, _tokens), "simple": (_simple, _sequences)}


def _trained(lib, case):
    build, data = CASES[case]
    (kgraph.utils if lib is kgraph else keras.utils).set_random_seed(0)
    model = build(lib)
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mean_squared_error")
    x, y = data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)  # two steps: Adam's slots exist
    return model, x, y


def _predict(model, x):
    return np.asarray(model.predict(x, verbose=0))


def _assert_same(loaded, original, x):
    np.testing.assert_allclose(_predict(loaded, x), _predict(original, x), rtol=1e-4, atol=1e-5)
    assert sorted(weights_by_path(loaded)) == sorted(weights_by_path(original))
    # In order, so that both halves of the Bidirectional (whose variables share names) are compared.
    want, got = original.get_weights(), loaded.get_weights()
    assert [w.shape for w in got] == [w.shape for w in want]
    for mine, reference in zip(got, want, strict=True):
        np.testing.assert_array_equal(mine, reference)


def _optimizer_state(model) -> list[np.ndarray]:
    return [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in model.optimizer.variables]


def _assert_same_optimizer(loaded, original):
    want, got = _optimizer_state(original), _optimizer_state(loaded)
    assert len(got) == len(want)
    for mine, reference in zip(got, want, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_model_loads_in_kgraph(tmp_path, case, suffix):
    theirs, x, _ = _trained(keras, case)
    theirs.save(tmp_path / f"model{suffix}")
    ours = kgraph.models.load_model(tmp_path / f"model{suffix}")
    _assert_same(ours, theirs, x)
    _assert_same_optimizer(ours, theirs)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_kgraph_model_loads_in_keras(tmp_path, case, suffix):
    ours, x, y = _trained(kgraph, case)
    ours.save(tmp_path / f"model{suffix}")
    theirs = keras.models.load_model(tmp_path / f"model{suffix}")
    _assert_same(theirs, ours, x)
    if suffix == ".keras":  # Keras 3.15 builds a legacy file's optimizer over no variables: a fresh state
        _assert_same_optimizer(theirs, ours)
    if suffix == ".keras":
        # Training resumes alike (the sequence model's output carries a mask: both weight the loss by it).
        ours.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        theirs.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
        np.testing.assert_allclose(_predict(theirs, x), _predict(ours, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_weights_files_both_ways(tmp_path, case):
    build, data = CASES[case]
    x, _ = data()
    keras.utils.set_random_seed(1)
    theirs, ours = build(keras), build(kgraph)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.load_weights(tmp_path / "theirs.weights.h5")
    _assert_same(ours, theirs, x)
    kgraph.utils.set_random_seed(2)
    ours = build(kgraph, name="other")
    ours.save_weights(tmp_path / "ours.weights.h5")
    assert h5_tree(tmp_path / "ours.weights.h5") == h5_tree(tmp_path / "theirs.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    _assert_same(theirs, ours, x)


def test_weights_file_groups_follow_keras(tmp_path):
    ours = _recurrent(kgraph)
    ours.save_weights(tmp_path / "ours.weights.h5")
    tree = h5_tree(tmp_path / "ours.weights.h5")
    assert tree["layers/bidirectional/forward_layer/cell/vars/0"] == (4, 12)
    assert tree["layers/bidirectional/backward_layer/cell/vars/1"] == (3, 12)
    assert tree["layers/gru/cell/vars/2"] == (2, 9)
    simple = _simple(kgraph)
    simple.save_weights(tmp_path / "simple.weights.h5")
    tree = h5_tree(tmp_path / "simple.weights.h5")
    assert tree["layers/simple_rnn/cell/vars/1"] == (4, 4)
    assert tree["layers/time_distributed/layer/vars/0"] == (4, 2)


def _as_json(value):
    """The value as JSON gives it back, without Keras's `shared_object_id` (ids of objects saved twice)."""
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items() if key != "shared_object_id"}
    return [_as_json(item) for item in value] if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_configs_match_keras(tmp_path, case):
    build, _ = CASES[case]
    ours, theirs = build(kgraph), build(keras)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")

    def layers(path):
        """Each layer's class and config (Keras also lists the operations that compute its masks)."""
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        return [
            (entry["class_name"], entry["config"], entry.get("build_config"))
            for entry in config["config"]["layers"]
            if entry["module"] == "keras.layers" and entry["class_name"] != "InputLayer"
        ]

    ours_layers, keras_layers = layers(tmp_path / "ours.keras"), layers(tmp_path / "theirs.keras")
    for mine, reference in zip(ours_layers, keras_layers, strict=True):
        assert _as_json(mine) == _as_json(reference)


@pytest.mark.parametrize("case", sorted(CASES))
def test_kgraph_save_load_resumes_training(tmp_path, case):
    ours, x, y = _trained(kgraph, case)
    ours.save(tmp_path / "model.keras")
    loaded = kgraph.models.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(_predict(loaded, x), _predict(ours, x))
    _assert_same_optimizer(loaded, ours)
    ours.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(_predict(loaded, x), _predict(ours, x), rtol=1e-6, atol=1e-7)

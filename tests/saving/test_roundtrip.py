"""Save and load within kgraph: `.keras`, legacy `.h5`, `.weights.h5`, JSON; weights, predictions, compile
config and optimizer state survive."""

import json
import zipfile

import h5py
import numpy as np
import pytest

import kgraph as keras
from tests.saving.models import (
    compile_mlp,
    compile_two_headed,
    custom_classes,
    data,
    h5_tree,
    mlp,
    two_headed,
    two_input_data,
)


def _strings(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _assert_same_weights(a, b):
    assert [w.path for w in a.weights] == [w.path for w in b.weights]
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_sequential_round_trip(tmp_path, suffix):
    model = mlp(keras)
    compile_mlp(model, keras)
    path = tmp_path / f"model{suffix}"
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, keras.Sequential)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    _assert_same_weights(model, restored)
    x, _ = data()
    np.testing.assert_allclose(restored(x), model(x), rtol=1e-6)
    assert restored.compiled and isinstance(restored.optimizer, keras.optimizers.Adam)
    assert restored.optimizer.learning_rate == pytest.approx(0.01)
    assert restored._compile_args[0] in ("mse", "mean_squared_error")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_functional_round_trip(tmp_path, suffix):
    model = two_headed(keras)
    compile_two_headed(model, keras)
    path = tmp_path / f"model{suffix}"
    model.save(path)
    restored = keras.models.load_model(path)
    assert restored.output_names == ["score", "label"]
    assert restored.get_layer("shared") is restored.get_layer("shared")
    _assert_same_weights(model, restored)
    x, _ = two_input_data()
    got, want = restored(x), model(x)
    assert list(got) == list(want) == ["score", "label"]
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6)
    loss, loss_weights, metrics, _ = restored._compile_args
    assert loss_weights == {"score": 1.0, "label": 0.5}
    assert metrics == {"label": ["accuracy"]}
    assert restored.optimizer.get_config()["momentum"] == pytest.approx(0.9)


def test_keras_archive_layout(tmp_path):
    model = mlp(keras)
    compile_mlp(model, keras)
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
        weights = archive.read("model.weights.h5")
    assert config["module"] == "keras" and config["class_name"] == "Sequential"
    assert config["build_config"] == {"input_shape": [None, 4]}
    assert config["compile_config"]["loss"] == "mse"
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    assert [entry["class_name"] for entry in config["config"]["layers"]] == [
        "InputLayer",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert "keras_version" in metadata and "date_saved" in metadata
    (tmp_path / "w.h5").write_bytes(weights)
    with h5py.File(tmp_path / "w.h5") as f:
        assert f["layers/dense/vars"].attrs["name"] == model.layers[0].name
        assert f["layers/dense/vars/0"].shape == (4, 8)
        assert f["layers/dense_1/vars/1"].shape == (2,)
        assert f["optimizer/vars/0"].dtype == np.int64  # iterations
        assert len(f["optimizer/vars"]) == 2  # never trained: iterations and learning rate only


def test_legacy_h5_layout_names_full_loss_names(tmp_path):
    model = mlp(keras)
    model.compile(optimizer="adam", loss="mse", metrics=["mae", "accuracy"])
    path = tmp_path / "model.h5"
    model.save(path)
    with h5py.File(path) as f:
        assert {"keras_version", "backend", "model_config", "training_config"} <= set(f.attrs)
        training = json.loads(f.attrs["training_config"])
        assert training["loss"] == "mean_squared_error"
        assert training["metrics"] == ["mean_absolute_error", "accuracy"]
        assert training["optimizer_config"]["class_name"] == "Adam"
        names = _strings(f["model_weights"].attrs["layer_names"])
        assert names == [layer.name for layer in model.layers]
        dense = model.layers[0]
        assert _strings(f["model_weights"][dense.name].attrs["weight_names"]) == [
            f"{dense.name}/kernel",
            f"{dense.name}/bias",
        ]
        assert "optimizer_weights" in f


def test_json_round_trip():
    model = two_headed(keras)
    text = model.to_json()
    restored = keras.models.model_from_json(text)
    assert json.loads(restored.to_json())["config"] == json.loads(text)["config"]
    assert restored.get_config() == model.get_config()
    assert not restored.compiled
    sequential = mlp(keras)
    again = keras.Sequential.from_config(sequential.get_config())
    assert again.get_config() == sequential.get_config()


def test_compile_config_in_json_compiles():
    model = mlp(keras)
    compile_mlp(model, keras)
    restored = keras.models.model_from_json(model.to_json())
    assert restored.compiled
    assert restored.get_compile_config() == model.get_compile_config()


def test_weights_only_round_trip_and_suffix_rule(tmp_path):
    model = two_headed(keras)
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    other = two_headed(keras)
    other.load_weights(path)
    _assert_same_weights(model, other)
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        model.save_weights(tmp_path / "model.h5")
    with pytest.raises(ValueError, match="Invalid filepath extension"):
        model.save(tmp_path / "model.tf")
    model.save(tmp_path / "full.keras")
    third = two_headed(keras)
    third.load_weights(tmp_path / "full.keras")
    _assert_same_weights(model, third)


def test_load_weights_skip_mismatch(tmp_path):
    source = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    path = tmp_path / "source.weights.h5"
    source.save_weights(path)
    target = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(7)])
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"source.weights.h5.*\(3, 2\).*\(3, 7\)"):
        target.load_weights(path)
    for x, y in zip(before, target.get_weights(), strict=True):  # nothing was assigned
        np.testing.assert_array_equal(x, y)
    with pytest.warns(UserWarning, match="Skipping"):
        target.load_weights(path, skip_mismatch=True)
    np.testing.assert_array_equal(target.get_weights()[0], source.get_weights()[0])  # the fitting layer
    np.testing.assert_array_equal(target.get_weights()[2], before[2])  # the mismatched layer is skipped


def test_training_resumes_exactly_after_save_and_load(tmp_path):
    x, y = data(32)
    keras.utils.set_random_seed(1)
    straight = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    initial = straight.get_weights()
    straight.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    straight.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)

    resumed = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    resumed.set_weights(initial)
    resumed.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    resumed.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    resumed.save(tmp_path / "half.keras")
    reloaded = keras.models.load_model(tmp_path / "half.keras")
    assert float(reloaded.optimizer.iterations) == 8
    reloaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_model_errors(tmp_path):
    with pytest.raises(ValueError, match="File not found"):
        keras.models.load_model(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match="File format not supported"):
        keras.models.load_model(tmp_path / "model.pb")


def test_sublayers_of_custom_layers_and_subclassed_models_are_saved(tmp_path):
    residual, classifier = custom_classes(keras)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2)(residual(6)(inputs)))
    model.save_weights(tmp_path / "functional.weights.h5")
    other = keras.Model(inputs := keras.Input((6,)), keras.layers.Dense(2)(residual(6)(inputs)))
    other.load_weights(tmp_path / "functional.weights.h5")
    np.testing.assert_allclose(other(x), model(x), rtol=1e-6)
    assert "layers/residual/inner/vars" in h5_tree(tmp_path / "functional.weights.h5")

    subclassed = classifier()
    subclassed(x)
    subclassed.save_weights(tmp_path / "subclassed.weights.h5")
    again = classifier()
    again(x)
    again.load_weights(tmp_path / "subclassed.weights.h5")
    np.testing.assert_allclose(again(x), subclassed(x), rtol=1e-6)


class _Subclassed(keras.Model):
    def __init__(self, width=4, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.hidden = keras.layers.Dense(width, activation="relu")
        self.head = keras.layers.Dense(2)

    def call(self, inputs, training=None):
        return self.head(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def test_subclassed_model_save_and_load(tmp_path):
    model = _Subclassed(width=5)
    x, _ = data()
    model(x)
    model.save(tmp_path / "sub.keras")
    restored = keras.models.load_model(tmp_path / "sub.keras", custom_objects={"_Subclassed": _Subclassed})
    assert restored.width == 5
    np.testing.assert_allclose(restored(x), model(x), rtol=1e-6)


def test_load_without_compiling(tmp_path):
    model = mlp(keras)
    compile_mlp(model, keras)
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert not restored.compiled and restored.optimizer is None
    x, _ = data()
    np.testing.assert_allclose(restored(x), model(x), rtol=1e-6)


_KERAS2_DENSE = {
    "name": "dense",
    "trainable": True,
    "dtype": "float32",
    "units": 2,
    "activation": "relu",
    "use_bias": True,
    "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
    "bias_initializer": {"class_name": "Zeros", "config": {}},
    "kernel_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "kernel_constraint": None,
    "bias_constraint": None,
}
_KERAS2_INPUT = {
    "batch_input_shape": [None, 3],
    "dtype": "float32",
    "sparse": False,
    "ragged": False,
    "name": "input_1",
}


def test_keras2_json_configs():
    functional = {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": [
                {"class_name": "InputLayer", "config": _KERAS2_INPUT, "name": "input_1", "inbound_nodes": []},
                {
                    "class_name": "Dense",
                    "config": _KERAS2_DENSE,
                    "name": "dense",
                    "inbound_nodes": [[["input_1", 0, 0, {}]]],
                },
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense", 0, 0]],
        },
        "keras_version": "2.13.1",
        "backend": "tensorflow",
    }
    model = keras.models.model_from_json(json.dumps(functional))
    assert [layer.name for layer in model.layers] == ["input_1", "dense"]
    assert model.layers[1].kernel.shape == (3, 2)
    sequential = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {"class_name": "InputLayer", "config": _KERAS2_INPUT},
                {"class_name": "Dense", "config": _KERAS2_DENSE},
            ],
        },
    }
    model = keras.models.model_from_json(json.dumps(sequential))
    assert model.built and model.layers[0].kernel.shape == (3, 2)

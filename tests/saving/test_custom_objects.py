"""Custom layers and functions come back through `custom_objects`, registration, or a custom object scope."""

import numpy as np
import pytest

import kgraph as keras
from kgraph import ops


class ScaledDense(keras.layers.Dense):
    """A Dense layer whose output is multiplied by a constant."""

    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = scale

    def call(self, inputs):
        return ops.multiply(super().call(inputs), self.scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def shifted_relu(x):
    return ops.relu(ops.subtract(x, 0.1))


def _model():
    return keras.Sequential(
        [keras.Input((3,)), ScaledDense(4, scale=2.0, activation=shifted_relu), keras.layers.Dense(1)]
    )


def _check(restored, model):
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    assert isinstance(restored.layers[0], ScaledDense)
    assert restored.layers[0].scale == 2.0
    np.testing.assert_allclose(restored(x), model(x), rtol=1e-6)


def test_unknown_custom_class_names_the_class(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras")
    with pytest.raises(TypeError, match="ScaledDense"):
        keras.models.load_model(tmp_path / "m.keras")


def test_custom_objects_argument(tmp_path):
    model = _model()
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(
        tmp_path / "m.keras", custom_objects={"ScaledDense": ScaledDense, "shifted_relu": shifted_relu}
    )
    _check(restored, model)


def test_custom_object_scope(tmp_path):
    model = _model()
    model.save(tmp_path / "m.h5")
    with keras.saving.custom_object_scope({"ScaledDense": ScaledDense, "shifted_relu": shifted_relu}):
        restored = keras.models.load_model(tmp_path / "m.h5")
    _check(restored, model)
    assert keras.utils.CustomObjectScope is keras.saving.CustomObjectScope


def test_register_keras_serializable(tmp_path):
    registry = keras.saving.get_custom_objects()
    saved = dict(registry)
    try:
        keras.saving.register_keras_serializable(package="Test")(ScaledDense)
        keras.utils.register_keras_serializable(package="Test", name="shifted")(shifted_relu)
        assert keras.saving.get_registered_name(ScaledDense) == "Test>ScaledDense"
        model = _model()
        config = model.get_config()["layers"][1]
        assert config["registered_name"] == "Test>ScaledDense"
        assert config["config"]["activation"]["registered_name"] == "Test>shifted"
        model.save(tmp_path / "m.keras")
        restored = keras.models.load_model(tmp_path / "m.keras")
        _check(restored, model)
        restored_json = keras.models.model_from_json(model.to_json())
        assert isinstance(restored_json.layers[0], ScaledDense)
    finally:
        registry.clear()
        registry.update(saved)


def test_register_requires_get_config():
    class NoConfig:
        pass

    with pytest.raises(ValueError, match="get_config"):
        keras.saving.register_keras_serializable()(NoConfig)


def test_serialize_and_deserialize_builtin_objects():
    for obj in (
        keras.optimizers.Adam(0.003),
        keras.losses.MeanSquaredError(),
        keras.initializers.HeNormal(seed=3),
        keras.regularizers.L1L2(0.1, 0.2),
        keras.constraints.MaxNorm(3),
        keras.layers.Dense(3, activation="tanh"),
    ):
        config = keras.saving.serialize_keras_object(obj)
        assert config["module"].startswith("keras") and config["registered_name"] is None
        again = keras.saving.deserialize_keras_object(config)
        assert type(again) is type(obj)
        assert again.get_config() == obj.get_config()
    fn = keras.saving.serialize_keras_object(keras.losses.mean_squared_error)
    assert fn == {
        "module": "keras.losses",
        "class_name": "function",
        "config": "mean_squared_error",
        "registered_name": "mean_squared_error",
    }
    assert keras.saving.deserialize_keras_object(fn) is keras.losses.mean_squared_error


def test_lambda_needs_unsafe_mode():
    with pytest.warns(UserWarning, match="lambda"):
        config = keras.saving.serialize_keras_object(lambda x: x * 2)
    with pytest.raises(ValueError, match="safe_mode=False"):
        keras.saving.deserialize_keras_object(config)
    assert keras.saving.deserialize_keras_object(config, safe_mode=False)(3) == 6


def test_enable_unsafe_deserialization_is_global(monkeypatch):
    from kgraph import config

    monkeypatch.setattr(config, "_unsafe_deserialization", [False])
    with pytest.warns(UserWarning, match="lambda"):
        config = keras.saving.serialize_keras_object(lambda x: x + 1)
    keras.config.enable_unsafe_deserialization()
    assert keras.saving.deserialize_keras_object(config)(1) == 2

"""Subclassed models and custom layers: layers assigned in __init__ and a `call`, compiled like any model."""

import numpy as np

import kgraph as keras
from kgraph import layers, ops


class Residual(keras.Layer):
    """A custom layer holding a sublayer and a weight of its own."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(units, activation="tanh")
        self.units = units

    def build(self, input_shape):
        self.scale = self.add_weight((self.units,), initializer="ones", name="scale")

    def call(self, inputs):
        return inputs + self.scale * self.inner(inputs)


class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(16, activation="relu")
        self.block = Residual(16)
        self.head = layers.Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        return self.head(self.block(self.hidden(inputs)))


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    return x, keras.utils.to_categorical((x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int), 3)


def test_subclassed_model_trains_predicts_and_tracks_weights():
    x, y = _data()
    model = Classifier()
    model.compile(
        optimizer=keras.optimizers.Adam(0.02), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert [w.shape for w in model.weights] == [(6, 16), (16,), (16,), (16, 16), (16,), (16, 3), (3,)]
    assert [layer.name for layer in model.layers][0].startswith("dense")
    eager = model.head(model.block(model.hidden(x)))
    np.testing.assert_allclose(model.predict(x, verbose=0), eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x), eager, rtol=1e-5, atol=1e-6)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert np.isfinite(loss) and 0 <= accuracy <= 1


def test_custom_layer_matches_the_same_computation_written_with_ops():
    x, _ = _data(8)
    layer = Residual(6)
    out = layer(x)
    kernel, bias, scale = (w.numpy() for w in (layer.inner.kernel, layer.inner.bias, layer.scale))
    np.testing.assert_allclose(out, x + scale * np.tanh(x @ kernel + bias), rtol=1e-5)
    assert len(layer.trainable_weights) == 3
    from kgraph.testing import run_traced

    np.testing.assert_allclose(run_traced(lambda t: layer(t), x, backend="cpu"), out, rtol=1e-5, atol=1e-6)
    assert ops.shape(out) == (8, 6)


class ScaledSquaredError(keras.Loss):
    """A custom Loss subclass: its `call` is traced into the training step."""

    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * ops.mean(ops.square(y_true - y_pred), axis=-1)


class MeanPrediction(keras.Metric):
    """A custom Metric subclass: update_state is traced, result() reads the variables."""

    def __init__(self, name="mean_prediction", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(ops.sum(y_pred))
        self.count.assign_add(ops.count(y_pred))

    def result(self):
        return float(self.total.numpy() / max(float(self.count.numpy()), 1.0))


def test_custom_loss_and_metric_compile_into_the_step():
    x, _ = _data(32)
    y = x[:, :2] * 0.5
    model = keras.Sequential([keras.Input((6,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss=ScaledSquaredError(), metrics=[MeanPrediction()])
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    prediction = model.predict(x, verbose=0)
    np.testing.assert_allclose(logs["loss"], 2.0 * np.mean(np.square(y - prediction)), rtol=1e-5)
    np.testing.assert_allclose(logs["mean_prediction"], prediction.mean(), rtol=1e-5, atol=1e-6)


def test_python_branching_on_a_tensor_gives_a_clear_error():
    class Branchy(keras.Layer):
        def call(self, inputs):
            return inputs if ops.sum(inputs) > 0 else -inputs

    import pytest

    with pytest.raises(TypeError, match="layer 'branchy'.*ops.where"):
        keras.Sequential([keras.Input((3,)), Branchy(name="branchy")])


class MyDense(keras.Layer):
    """Dense written as a custom layer."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            (input_shape[-1], self.units), initializer="glorot_uniform", name="kernel"
        )
        self.bias = self.add_weight((self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return ops.relu(ops.matmul(inputs, self.kernel) + self.bias)


def test_a_dense_written_as_a_custom_layer_matches_and_fuses_like_the_builtin():
    x, y = _data(48)
    built_in = keras.Sequential([keras.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(3)])
    custom = keras.Sequential([keras.Input((6,)), MyDense(8), layers.Dense(3)])
    custom.set_weights(built_in.get_weights())
    for model in (built_in, custom):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(built_in.get_weights(), custom.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    kernels = [
        [k.name.split("_", 1)[1] for k in p.graph.fusion.kernels]
        for m in (built_in, custom)
        for p in m._programs.values()
    ]
    assert kernels[0] == kernels[1]
    assert kernels[0][0].startswith("matmul_add_relu")

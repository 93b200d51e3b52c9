"""Overriding train_step / test_step on a Model subclass: the user's step is traced and compiled by fit."""

import digits
import numpy as np

import kgraph as keras
from kgraph import layers


class MLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(32, activation="relu")
        self.head = layers.Dense(10, activation="softmax")

    def call(self, inputs, training=None):
        return self.head(self.hidden(inputs))


class KerasStyleStep(MLP):
    """The step of Keras's "Customizing what happens in fit()" guide."""

    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables, strict=True))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        self.compiled_loss(y, y_pred)
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.compiled_metrics.metrics}


def test_custom_train_step_trains_on_digits():
    x, y = digits.load()[:2]
    keras.utils.set_random_seed(0)
    model = KerasStyleStep()
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x[:1400], y[:1400], batch_size=64, epochs=8, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    logs = model.evaluate(x[1400:], y[1400:], verbose=0, return_dict=True)
    assert set(logs) == {"accuracy"} and logs["accuracy"] > 0.9


class DefaultStep(MLP):
    """Keras's default step written out by hand: must take the same steps as the built-in one."""

    def train_step(self, data):
        x, y = data
        with keras.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return {"loss": loss}


def test_hand_written_default_step_matches_fit():
    x, y = digits.load()[:2]
    x, y = x[:256], y[:256]
    keras.utils.set_random_seed(1)
    custom, builtin = DefaultStep(), MLP()
    for model in (custom, builtin):
        model.build((None, 64))
    builtin.set_weights(custom.get_weights())
    for model in (custom, builtin):
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy")
        model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(custom.get_weights(), builtin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert custom.optimizer.iterations.numpy() == builtin.optimizer.iterations.numpy() == 16


def test_super_train_step_is_the_default():
    x, y = digits.load()[:2]

    class Logged(MLP):
        def train_step(self, data):
            return super().train_step(data)

    keras.utils.set_random_seed(2)
    model = Logged()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:512], y[:512], batch_size=64, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert np.isfinite(history.history["loss"]).all()


def test_train_on_batch_runs_the_overridden_step_and_returns_its_logs():
    x, y = digits.load()[:2]
    x, y = x[:64], y[:64]
    keras.utils.set_random_seed(3)
    custom, builtin = DefaultStep(), MLP()
    for model in (custom, builtin):
        model.build((None, 64))
    builtin.set_weights(custom.get_weights())
    for model in (custom, builtin):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    for _ in range(3):
        # DefaultStep returns this batch's loss, computed before the update.
        expected = keras.losses.categorical_crossentropy(y, custom.predict(x, verbose=0)).mean()
        np.testing.assert_allclose(custom.train_on_batch(x, y), expected, rtol=1e-4)
        builtin.train_on_batch(x, y)
    for a, b in zip(custom.get_weights(), builtin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert custom.train_on_batch(x, y, return_dict=True).keys() == {"loss"}


def test_test_on_batch_runs_the_overridden_test_step():
    x, y = digits.load()[:2]
    model = KerasStyleStep()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    model.build((None, 64))
    logs = model.test_on_batch(x[:100], y[:100], return_dict=True)
    assert set(logs) == {"accuracy"}
    expected = np.mean(np.argmax(model.predict(x[:100], verbose=0), 1) == np.argmax(y[:100], 1))
    np.testing.assert_allclose(logs["accuracy"], expected, rtol=1e-6)

"""kgraph.function: a custom training step traced once per signature and run as one compiled program."""

import digits
import numpy as np
import pytest

import kgraph
from kgraph import ops


def _train_step(model, optimizer, loss_fn, metric=None):
    @kgraph.function
    def train_step(x, y):
        with kgraph.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = loss_fn(y, predictions)
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        if metric is not None:
            metric.update_state(y, predictions)
        return loss

    return train_step


def test_compiled_step_takes_the_same_steps_as_fit():
    x, y, _ = digits.load()
    x, y = x[:100], y[:100]  # three batches of 32 and a last one of 4: a second trace
    kgraph.utils.set_random_seed(1)
    looped, fitted = digits.mlp(), digits.mlp()
    fitted.set_weights(looped.get_weights())
    step = _train_step(
        looped,
        kgraph.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
        kgraph.losses.CategoricalCrossentropy(),
    )
    losses = [float(step(x[i : i + 32], y[i : i + 32])) for i in range(0, 100, 32)]
    fitted.compile(
        optimizer=kgraph.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
        loss="categorical_crossentropy",
    )
    history = fitted.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(looped.get_weights(), fitted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # fit's loss is the mean over samples of the epoch; the steps' losses are per-batch means
    sizes = np.array([32, 32, 32, 4])
    np.testing.assert_allclose(np.sum(np.array(losses) * sizes) / 100, history.history["loss"][0], rtol=1e-4)
    assert len(step._traces) == 2


def test_compiled_step_learns_digits_and_updates_metrics():
    x, y, labels = digits.load()
    kgraph.utils.set_random_seed(0)
    model = digits.mlp()
    accuracy = kgraph.metrics.CategoricalAccuracy()
    step = _train_step(model, kgraph.optimizers.Adam(0.01), kgraph.losses.kl_divergence, accuracy)
    for _ in range(6):
        accuracy.reset_state()
        for i in range(0, 1408, 64):
            loss = step(x[i : i + 64], y[i : i + 64])
    assert loss.shape == (64,) and loss.dtype == np.float32  # kl_divergence per sample, as returned
    assert float(accuracy.result()) > 0.9
    assert (model.predict(x[1408:], verbose=0).argmax(1) == labels[1408:]).mean() > 0.9


def test_python_arguments_retrace_and_structures_round_trip():
    calls = []

    @kgraph.function
    def affine(inputs, scale, shift=0.0):
        calls.append(scale)  # Python runs while tracing only
        a, b = inputs["a"], inputs["b"]
        return {"sum": a * scale + b + shift, "parts": (ops.argmax(a, axis=-1), "label")}

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.ones((2, 3), np.float32)
    out = affine({"b": b, "a": a}, 2.0)
    np.testing.assert_allclose(out["sum"], a * 2 + b)
    np.testing.assert_array_equal(out["parts"][0], [2, 2])
    assert out["parts"][1] == "label"
    affine({"a": a + 1, "b": b}, 2.0)  # same signature: no trace
    affine({"a": a, "b": b}, 3.0, shift=1.0)  # a new Python value: a new trace
    np.testing.assert_allclose(affine({"a": a, "b": b}, 3.0, shift=1.0)["sum"], a * 3 + b + 1)
    affine({"a": a[:1], "b": b[:1]}, 2.0)  # new shapes: a new trace
    assert calls == [2.0, 3.0, 2.0]
    for scale in (np.float32(2.0), np.float32(5.0)):  # numpy scalars are inputs, not constants
        np.testing.assert_allclose(affine({"a": a, "b": b}, scale)["sum"], a * scale + b)
    assert len(calls) == 4  # one trace for both scalars


def test_method_decoration_binds_the_instance():
    class Scaler:
        def __init__(self, factor):
            self.factor = kgraph.Variable(np.float32(factor))

        @kgraph.function
        def __call__(self, x):
            self.factor.assign(self.factor * 2.0)
            return x * self.factor

    twice, thrice = Scaler(1.0), Scaler(3.0)
    x = np.ones(2, np.float32)
    np.testing.assert_allclose(twice(x), [2.0, 2.0])
    np.testing.assert_allclose(twice(x), [4.0, 4.0])  # the variable persists between calls
    np.testing.assert_allclose(thrice(x), [6.0, 6.0])
    assert float(twice.factor.numpy()) == 4.0


def test_python_branch_on_a_tensor_is_a_clear_error():
    @kgraph.function
    def bad(x):
        if ops.sum(x) > 0:
            return x
        return -x

    with pytest.raises(TypeError, match="ops.where"):
        bad(np.ones(3, np.float32))

"""Model building, training flows, logs and history, callbacks, and the errors users hit."""

import numpy as np
import pytest

import kgraph as keras
from kgraph import layers


def _data(n=64, features=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    labels = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)
    return x, keras.utils.to_categorical(labels, classes), labels


def _model(features=8, classes=3, name=None):
    return keras.Sequential(
        [
            layers.Input((features,)),
            layers.Dense(16, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ],
        name=name,
    )


def test_fit_learns_and_reports_history():
    keras.utils.set_random_seed(0)
    x, y, _ = _data(256)
    model = _model()
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0, validation_split=0.25)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.7
    assert history.epoch == list(range(8))


def test_evaluate_matches_a_numpy_computation_of_the_loss():
    x, y, _ = _data(50)
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(x, y, batch_size=16, verbose=0)
    p = np.clip(model.predict(x, verbose=0), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(loss, np.mean(-np.sum(y * np.log(p), axis=1)), rtol=1e-5)
    np.testing.assert_allclose(accuracy, np.mean(p.argmax(1) == y.argmax(1)), rtol=1e-6)
    assert model.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}


def test_predict_equals_the_eager_forward_pass():
    x, _, _ = _data(37)
    model = _model()
    eager = x
    for layer in model.layers:  # each layer called on arrays runs eagerly with numpy
        eager = layer(eager)
    np.testing.assert_allclose(model.predict(x, batch_size=8, verbose=0), eager, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.predict_on_batch(x[:1]), eager[:1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model(x), eager, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model(x.astype(np.float64)), eager, rtol=1e-5, atol=1e-7)


def test_a_large_predict_runs_in_parts_and_a_few_rows_get_a_program_of_their_own(monkeypatch):
    """Rows beyond `predict_rows` (here SPLIT_MIN_BATCH = 64: no budget) run a part at a time, the last part
    short; a one-row call afterwards compiles its own program rather than reuse one sized for many."""
    from kgraph.models import programs

    monkeypatch.setattr(programs, "PREDICT_BATCH_BYTES", 0)
    x, _, _ = _data(150)
    model = _model()
    eager = x
    for layer in model.layers:
        eager = layer(eager)
    np.testing.assert_allclose(model.predict_on_batch(x), eager, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model(x[:1]), eager[:1], rtol=1e-5, atol=1e-7)
    sizes = sorted(program.batch_size for program in model._programs.values())
    assert sizes == [1, 64], sizes


def test_inputs_of_other_lengths_share_their_programs():
    """A program holds no row count: predicting 5, 7 and 300 rows (batch 32) keeps one predict program, as
    train_on_batch on 20 rows and then 7 keeps one training program (each used to build and keep its own,
    with its own arena); the numbers are the eager layers'."""
    x, y, _ = _data(300)
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    eager = x
    for layer in model.layers:
        eager = layer(eager)
    for rows in (5, 7, 300):
        np.testing.assert_allclose(model.predict(x[:rows], verbose=0), eager[:rows], rtol=1e-5, atol=1e-7)
    model.train_on_batch(x[:20], y[:20])
    model.train_on_batch(x[:7], y[:7])
    kinds = sorted(key[0] for key in model._programs)
    assert kinds == ["predict", "train"], list(model._programs)


def test_on_batch_methods():
    x, y, _ = _data(32)
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    loss, accuracy = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert set(model.test_on_batch(x, y, return_dict=True)) == {"loss", "accuracy"}


def test_sparse_labels_class_and_sample_weights():
    x, _, labels = _data(64)
    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, labels, epochs=1, verbose=0, class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    model.fit(x, labels, epochs=1, verbose=0, sample_weight=np.linspace(0.5, 1.5, 64))
    unweighted = model.evaluate(x, labels, verbose=0)[0]
    weighted = model.evaluate(x, labels, verbose=0, sample_weight=np.zeros(64))[0]
    assert weighted == 0.0 and unweighted > 0


def test_weights_in_keras_order_and_counts():
    model = _model()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(8, 16), (16,), (16, 3), (3,)]
    assert model.count_params() == 8 * 16 + 16 + 16 * 3 + 3
    assert model.get_layer(index=0) is model.layers[0]
    new = [np.full(s, 0.5, np.float32) for s in shapes]
    model.set_weights(new)
    np.testing.assert_array_equal(model.get_weights()[2], new[2])
    with pytest.raises(ValueError, match="expected 4 weights"):
        model.set_weights(new[:2])


def test_functional_model_with_two_inputs_two_outputs_and_a_shared_layer():
    a, b = layers.Input((4,), name="a"), layers.Input((4,), name="b")
    shared = layers.Dense(5, activation="tanh", name="shared")
    merged = layers.concatenate([shared(a), shared(b)])
    out1 = layers.Dense(1, name="score")(merged)
    out2 = layers.Dense(3, activation="softmax", name="kind")(layers.add([shared(a), shared(b)]))
    model = keras.Model([a, b], [out1, out2])
    model.compile(
        optimizer="adam",
        loss={"score": "mse", "kind": "categorical_crossentropy"},
        loss_weights={"score": 0.5, "kind": 1.0},
        metrics={"kind": ["accuracy"]},
    )
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(40, 4)), rng.normal(size=(40, 4))
    y1, y2 = rng.normal(size=(40, 1)), np.eye(3)[rng.integers(0, 3, 40)]
    history = model.fit([xa, xb], [y1, y2], epochs=2, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "score_loss", "kind_loss", "kind_accuracy"}
    logs = model.evaluate([xa, xb], {"score": y1, "kind": y2}, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], 0.5 * logs["score_loss"] + logs["kind_loss"], rtol=1e-5)
    p1, p2 = model.predict([xa, xb], verbose=0)
    assert p1.shape == (40, 1) and p2.shape == (40, 3)
    assert len(model.weights) == 6  # the shared layer's weights count once


def test_a_model_built_with_a_dict_of_outputs_returns_dicts_as_in_keras():
    inputs = layers.Input((4,))
    hidden = layers.Dense(6, activation="tanh")(inputs)
    head = layers.Dense(3, activation="softmax")
    outputs = {"reg": layers.Dense(1)(hidden), "cls": head(hidden)}
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss={"reg": "mse", "cls": "categorical_crossentropy"})
    rng = np.random.default_rng(0)
    x, y1, y2 = rng.normal(size=(16, 4)), rng.normal(size=(16, 1)), np.eye(3)[rng.integers(0, 3, 16)]
    model.fit(x, {"reg": y1, "cls": y2}, batch_size=8, epochs=1, verbose=0)
    predicted = model.predict(x, verbose=0)
    assert list(predicted) == ["reg", "cls"] and predicted["cls"].shape == (16, 3)
    called = model(x.astype(np.float32))
    assert list(called) == ["reg", "cls"]
    np.testing.assert_allclose(called["reg"], predicted["reg"], rtol=1e-5)
    with keras.GradientTape() as tape:  # a custom loop indexes the outputs by name too
        out = model(x.astype(np.float32))
        loss = keras.ops.mean(keras.ops.square(out["reg"] - y1.astype(np.float32)))
    weights = model.trainable_weights
    unreached = {id(w) for w in head.trainable_weights}
    for weight, grad in zip(weights, tape.gradient(loss, weights), strict=True):
        assert (grad is None) == (id(weight) in unreached)  # the classifier head does not reach this loss


def test_a_model_built_with_a_dict_of_inputs_takes_dicts_everywhere():
    a, b = layers.Input((3,), name="a"), layers.Input((2,), name="b")
    model = keras.Model({"a": a, "b": b}, layers.Dense(1)(layers.concatenate([a, b])))
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(6, 3)).astype(np.float32), "b": rng.normal(size=(6, 2)).astype(np.float32)}
    predicted = model.predict(x, verbose=0)
    np.testing.assert_allclose(model(x), predicted, rtol=1e-5)
    np.testing.assert_allclose(model({"b": x["b"], "a": x["a"]}), predicted, rtol=1e-5)  # by name, any order
    with keras.GradientTape() as tape:
        loss = keras.ops.sum(model(x))
    assert tape.gradient(loss, model.trainable_weights)[0].shape == (5, 1)
    with pytest.raises(ValueError, match="lacks"):
        model({"a": x["a"]})


def test_callbacks_early_stopping_and_lambda():
    x, y, _ = _data(64)
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    seen = []
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    lam = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stopper, lam])
    assert len(history.history["loss"]) == 2 and seen == [0, 1]


def test_steps_per_execution_calls_batch_callbacks_every_k_steps():
    x, y, _ = _data(100)
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", steps_per_execution=3)
    batches = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    model.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[cb])
    assert batches == [2, 5, 8, 9]


def test_progress_bar_output(capsys):
    x, y, _ = _data(64)
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=32, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "2/2 - " in out and "accuracy:" in out and "loss:" in out


def test_bad_input_errors_leave_the_model_usable():
    x, y, labels = _data(20)
    model = _model()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match="expected shape"):
        model.fit(x[:, :5], y, verbose=0)
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(x, y[:10], verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(np.where(x > 1, np.nan, x), y, verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        model.fit(np.array([["a"] * 8] * 20), y, verbose=0)
    with pytest.raises(ValueError, match="Unknown loss|Could not interpret loss"):
        model.compile(optimizer="sgd", loss="not_a_loss")
    with pytest.raises(ValueError, match="sgd|Could not interpret optimizer|Unknown optimizer"):
        model.compile(optimizer="not_an_optimizer", loss="mse")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="label value outside the valid range"):
        model.fit(x, labels + 3, verbose=0)
    model.fit(x, labels, verbose=0)  # still usable


def test_sequential_add_pop_and_deferred_build():
    model = keras.Sequential()
    model.add(layers.Dense(4))
    assert not model.built
    model.add(layers.Dense(2))
    y = model.predict(np.ones((3, 6), np.float32), verbose=0)
    assert y.shape == (3, 2) and model.built
    popped = model.pop()
    assert popped.units == 2 and len(model.layers) == 1


def test_summary_lists_layers_and_parameters(capsys):
    _model(name="net").summary()
    out = capsys.readouterr().out
    assert 'Model: "net"' in out and "Dense" in out and "Total params: 195" in out


def test_summary_total_counts_the_optimizer_variables_once_built(capsys):
    """Keras's total: trainable + non-trainable + the optimizer's variables (SGD with momentum: its iteration
    count, its learning rate and one slot per weight; Keras 3 prints 18 and 10 here)."""
    model = keras.Sequential([layers.Input((3,)), layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
    model.summary()
    assert "Total params: 8 " in capsys.readouterr().out
    model.train_on_batch(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32))
    model.summary()
    out = capsys.readouterr().out
    assert "Total params: 18 " in out and "Trainable params: 8 " in out and "Optimizer params: 10 " in out


def test_predict_rejects_nan_on_every_path():
    model = _model()
    x = np.ones((5, 8), np.float32)
    x[3, 2] = np.nan
    for call in (
        lambda: model.predict(x, verbose=0),
        lambda: model.predict_on_batch(x),
        lambda: model.predict(x.astype(np.float64), verbose=0),
    ):
        with pytest.raises(ValueError, match="NaN"):
            call()
    assert np.isfinite(model.predict(np.ones((2, 8), np.float32), verbose=0)).all()


def test_backend_selection_reaches_the_programs(monkeypatch):
    from kgraph import config
    from kgraph.runtime.program import CompiledProgram, InterpretedProgram

    x, y, _ = _data(32)
    results = {}
    for backend, expected in (("numpy", InterpretedProgram), ("cpu", CompiledProgram)):
        monkeypatch.setenv("KGRAPH_BACKEND", backend)
        config.reload()
        keras.utils.set_random_seed(0)
        model = _model()
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.fit(x, y, epochs=1, shuffle=False, verbose=0)
        assert all(isinstance(p, expected) for p in model._programs.values())
        results[backend] = model.get_weights()
    for a, b in zip(results["numpy"], results["cpu"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    monkeypatch.setenv("KGRAPH_BACKEND", "cuda")
    config.reload()
    model = _model()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(RuntimeError, match="'cuda' backend was requested but cannot run here: "):
        model.fit(x, y, verbose=0)
    monkeypatch.delenv("KGRAPH_BACKEND")
    config.reload()


def test_profile_kernels_times_every_kernel_of_a_program():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="predict"):
        model.profile_kernels("predict")
    before = model.predict(x, batch_size=8, verbose=0)
    report = model.profile_kernels("predict", repeats=2, rows=1)
    program = [p for (kind, *_), p in model._programs.items() if kind == "predict"][-1]
    kernels = [k.name for k in program.graph.fusion.kernels]
    assert report.splitlines()[0].startswith(f"{len(kernels)} kernels, ")
    assert all(name in report for name in kernels), report
    np.testing.assert_array_equal(model.predict(x, batch_size=8, verbose=0), before)

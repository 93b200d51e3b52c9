"""Callbacks, driven by a small simulated training loop around a fake model."""

import io
import os
import re
import time
from contextlib import redirect_stdout

import numpy as np
import pytest

from kgraph import callbacks as cb

HOOKS = [
    f"on_{kind}_{when}"
    for kind in ("train", "test", "predict", "epoch", "batch")
    for when in ("begin", "end")
] + [f"on_{kind}_batch_{when}" for kind in ("train", "test", "predict") for when in ("begin", "end")]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


class FakeOptimizer:
    def __init__(self, learning_rate=0.01, name="sgd"):
        self.learning_rate = learning_rate
        self.name = name


class FakeModel:
    def __init__(self, metrics=()):
        self.stop_training = False
        self.weights = [np.zeros(3)]
        self.optimizer = FakeOptimizer()
        self.metrics = list(metrics)

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


class Recorder(cb.Callback):
    """Records the calls of two hooks as (hook, index, logs)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("on_epoch_end", epoch, logs))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(("on_test_batch_end", batch, logs))


def simulate_fit(callbacks, epoch_logs, model=None, steps=2, verbose=0, validate=False):
    """Drives hooks in the order Keras's fit does; weights are set to the epoch index."""
    model = model or FakeModel()
    callback_list = cb.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=True,
        model=model,
        verbose=verbose,
        epochs=len(epoch_logs),
        steps=steps,
    )
    callback_list.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        model.weights = [np.full(3, float(epoch))]
        callback_list.on_epoch_begin(epoch)
        for batch in range(steps):
            callback_list.on_train_batch_begin(batch)
            callback_list.on_train_batch_end(
                batch, {k: v for k, v in logs.items() if not k.startswith("val_")}
            )
        if validate:
            callback_list.on_test_begin()
            for batch in range(steps):
                callback_list.on_test_batch_begin(batch)
                callback_list.on_test_batch_end(batch, {"loss": 9.0})
            callback_list.on_test_end({"loss": 9.0})
        callback_list.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    callback_list.on_train_end()
    return model, callback_list


def test_callback_has_every_keras_hook():
    base = cb.Callback()
    for hook in HOOKS:
        assert callable(getattr(base, hook)), hook
    assert base.model is None and base.params is None
    base.set_model("m")
    base.set_params({"epochs": 1})
    assert base.model == "m" and base.params == {"epochs": 1}


@pytest.mark.keras
def test_hook_names_match_keras():
    keras = _keras()
    theirs = {n for n in dir(keras.callbacks.Callback) if n.startswith("on_")}
    assert theirs == set(HOOKS)


def test_train_batch_hooks_fall_back_to_legacy_batch_hooks():
    seen = []

    class Legacy(cb.Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, logs["loss"]))

    simulate_fit([Legacy()], [{"loss": 1.0}], steps=2)
    assert seen == [("begin", 0), ("end", 0, 1.0), ("begin", 1), ("end", 1, 1.0)]


def test_callback_list_dispatches_in_order_with_converted_logs():
    rec = Recorder()
    callback_list = cb.CallbackList([rec], model=FakeModel())
    callback_list.on_epoch_end(0, {"loss": np.float32(0.5), "b": {"acc": np.array(0.25)}, "name": "x"})
    hook, epoch, logs = rec.calls[-1]
    assert (hook, epoch) == ("on_epoch_end", 0)
    assert logs == {"acc": 0.25, "loss": 0.5, "name": "x"}
    assert type(logs["loss"]) is float
    callback_list.on_test_batch_end(3, None)
    assert rec.calls[-1] == ("on_test_batch_end", 3, {})


def test_batch_hooks_receive_logs_by_keyword():
    got = {}

    class KeywordOnly(cb.Callback):
        def on_train_batch_end(self, batch, **kwargs):
            got.update(kwargs)

    cb.CallbackList([KeywordOnly()]).on_train_batch_end(0, {"loss": 1.0})
    assert got == {"logs": {"loss": 1.0}}


def test_callback_list_adds_history_and_progbar_once():
    model = FakeModel()
    history = cb.History()
    callback_list = cb.CallbackList(
        [[history]], add_history=True, add_progbar=True, model=model, verbose=0, epochs=1, steps=1
    )
    assert callback_list.callbacks[0] is history
    assert [type(c) for c in callback_list.callbacks] == [cb.History, cb.ProgbarLogger]
    assert model.history is history
    assert all(c.model is model for c in callback_list.callbacks)
    assert history.params == {"verbose": 0, "epochs": 1, "steps": 1}
    assert cb.CallbackList([]).callbacks == []


def test_history_records_epochs():
    model, callback_list = simulate_fit([], [{"loss": 3.0, "val_loss": 4.0}, {"loss": 2.0, "val_loss": 3.5}])
    history = model.history
    assert isinstance(history, cb.History)
    assert history.history == {"loss": [3.0, 2.0], "val_loss": [4.0, 3.5]}
    assert history.epoch == [0, 1]
    assert history.params["epochs"] == 2
    assert history.model is model


def _run_early_stopping(callback, values, monitor="val_loss"):
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    epochs_run = 0
    for epoch, value in enumerate(values):
        model.weights = [np.full(3, float(epoch))]
        callback.on_epoch_end(epoch, {monitor: value})
        epochs_run += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return epochs_run, callback.stopped_epoch, callback.best, float(model.weights[0][0])


# (EarlyStopping kwargs, monitored values, monitor,
#  expected (epochs run, stopped_epoch, best, epoch of the weights left in the model))
EARLY_STOPPING_CASES = [
    ({"patience": 0}, [1.0, 0.9, 0.8, 0.85, 0.86, 0.7], "val_loss", (4, 3, 0.8, 3.0)),
    ({"patience": 2}, [1.0, 0.9, 0.8, 0.85, 0.86, 0.87, 0.7], "val_loss", (5, 4, 0.8, 4.0)),
    ({"patience": 1, "min_delta": 0.05}, [1.0, 0.97, 0.96, 0.9, 0.89, 0.88], "val_loss", (2, 1, 1.0, 1.0)),
    (
        {"patience": 1, "mode": "max", "monitor": "val_accuracy"},
        [0.5, 0.6, 0.55, 0.54, 0.7],
        "val_accuracy",
        (3, 2, 0.6, 2.0),
    ),
    (
        {"patience": 1, "monitor": "val_accuracy"},
        [0.5, 0.6, 0.55, 0.54, 0.7],
        "val_accuracy",
        (3, 2, 0.6, 2.0),
    ),
    ({"patience": 2, "baseline": 0.5}, [1.0, 0.9, 0.8, 0.7, 0.6], "val_loss", (5, 0, 0.6, 4.0)),
    ({"patience": 2, "baseline": 0.85}, [1.0, 0.9, 0.8, 0.9, 0.9, 0.9], "val_loss", (5, 4, 0.8, 4.0)),
    ({"patience": 0, "start_from_epoch": 2}, [1.0, 2.0, 3.0, 2.5, 2.6], "val_loss", (5, 4, 2.5, 4.0)),
    ({"patience": 1, "restore_best_weights": True}, [1.0, 0.5, 0.7, 0.8, 0.9], "val_loss", (3, 2, 0.5, 1.0)),
    ({"patience": 10, "restore_best_weights": True}, [1.0, 0.5, 0.7], "val_loss", (3, 0, 0.5, 1.0)),
    ({"patience": 1, "mode": "min", "monitor": "loss"}, [3.0, 3.0, 3.0], "loss", (2, 1, 3.0, 1.0)),
]


@pytest.mark.parametrize("kwargs, values, monitor, expected", EARLY_STOPPING_CASES)
def test_early_stopping_semantics_by_hand(kwargs, values, monitor, expected):
    assert _run_early_stopping(cb.EarlyStopping(**kwargs), values, monitor) == pytest.approx(expected)


@pytest.mark.keras
@pytest.mark.parametrize("kwargs, values, monitor, expected", EARLY_STOPPING_CASES)
def test_early_stopping_matches_keras(kwargs, values, monitor, expected):
    keras = _keras()
    ours = _run_early_stopping(cb.EarlyStopping(**kwargs), values, monitor)
    if kwargs.get("monitor") == "val_accuracy" and "mode" not in kwargs:
        # Keras finds a direction only on the metric objects of a real compiled model;
        # kgraph also knows the standard metric names, so it maximizes accuracy here.
        with pytest.raises(ValueError, match="maximized or minimized"):
            _run_early_stopping(keras.callbacks.EarlyStopping(**kwargs), values, monitor)
        kwargs = {**kwargs, "mode": "max"}
    theirs = _run_early_stopping(keras.callbacks.EarlyStopping(**kwargs), values, monitor)
    assert ours == pytest.approx(theirs)


def test_early_stopping_inside_fit_stops_training():
    stopper = cb.EarlyStopping(monitor="loss", patience=1)
    model, _ = simulate_fit([stopper], [{"loss": v} for v in (3.0, 2.0, 2.5, 2.6, 1.0)])
    assert model.stop_training
    assert model.history.epoch == [0, 1, 2]


def test_early_stopping_warns_when_monitor_missing():
    stopper = cb.EarlyStopping(monitor="val_loss")
    stopper.set_model(FakeModel())
    stopper.on_train_begin()
    with pytest.warns(UserWarning, match="val_loss.*not available.*Available metrics are: loss"):
        stopper.on_epoch_end(0, {"loss": 1.0})
    assert not stopper.model.stop_training


def test_early_stopping_auto_mode_reads_metric_direction():
    class Metric:
        def __init__(self, name, direction):
            self.name, self._direction = name, direction

    class Container:
        metrics = [Metric("custom", "up")]

    stopper = cb.EarlyStopping(monitor="val_custom", patience=0)
    stopper.set_model(FakeModel(metrics=[Container()]))
    stopper.on_train_begin()
    stopper.on_epoch_end(0, {"val_custom": 1.0})
    stopper.on_epoch_end(1, {"val_custom": 2.0})
    assert not stopper.model.stop_training
    stopper.on_epoch_end(2, {"val_custom": 1.5})
    assert stopper.model.stop_training


def test_early_stopping_auto_mode_unknown_metric_raises():
    stopper = cb.EarlyStopping(monitor="val_mystery")
    stopper.set_model(FakeModel())
    with pytest.raises(ValueError, match="mode='max'"):
        stopper.on_epoch_end(0, {"val_mystery": 1.0})


def test_early_stopping_unknown_mode_warns():
    with pytest.warns(UserWarning, match="unknown"):
        assert cb.EarlyStopping(mode="sideways").mode == "auto"


def test_early_stopping_verbose_messages(capsys):
    stopper = cb.EarlyStopping(monitor="loss", patience=0, verbose=1, restore_best_weights=True)
    _run_early_stopping(stopper, [1.0, 0.5, 0.7], "loss")
    assert capsys.readouterr().out == (
        "Epoch 3: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_lambda_callback():
    seen = []
    lam = cb.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, logs["loss"])),
        on_train_begin=lambda logs: seen.append(("begin",)),
        on_train_batch_end=lambda batch, logs: seen.append(("batch", batch)),
        on_test_end=lambda logs: seen.append(("test_end",)),
    )
    simulate_fit([lam], [{"loss": 1.0}], steps=1, validate=True)
    assert seen == [("begin",), ("batch", 0), ("test_end",), ("epoch", 0, 1.0)]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_terminate_on_nan(bad, capsys):
    model, _ = simulate_fit([cb.TerminateOnNaN()], [{"loss": 1.0}, {"loss": bad}, {"loss": 1.0}], steps=1)
    assert model.stop_training and model.history.epoch == [0, 1]
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        simulate_fit([cb.TerminateOnNaN(raise_error=True)], [{"loss": bad}], steps=1)


def test_terminate_on_nan_ignores_finite_loss():
    model, _ = simulate_fit([cb.TerminateOnNaN()], [{"loss": 1.0}, {"loss": 2.0}], steps=1)
    assert not model.stop_training


def test_learning_rate_scheduler_sets_float_and_logs_it(capsys):
    scheduler = cb.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr, verbose=1)
    model, _ = simulate_fit([scheduler], [{"loss": 1.0}] * 3)
    assert model.optimizer.learning_rate == pytest.approx(0.0025)
    assert type(model.optimizer.learning_rate) is float
    assert model.history.history["learning_rate"] == pytest.approx([0.01, 0.005, 0.0025])
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.005." in capsys.readouterr().out


def test_learning_rate_scheduler_one_argument_schedule_and_checks():
    model, _ = simulate_fit([cb.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))], [{"loss": 1.0}] * 2)
    assert model.optimizer.learning_rate == pytest.approx(0.05)
    with pytest.raises(ValueError, match="should be a float"):
        simulate_fit([cb.LearningRateScheduler(lambda epoch, lr: 1)], [{"loss": 1.0}])
    model = FakeModel()
    model.optimizer = object()
    with pytest.raises(ValueError, match="learning_rate"):
        simulate_fit([cb.LearningRateScheduler(lambda epoch, lr: 0.1)], [{"loss": 1.0}], model=model)


def test_learning_rate_scheduler_with_several_optimizers():
    model = FakeModel()
    model.optimizer.optimizers = [FakeOptimizer(0.1, "a"), FakeOptimizer(0.2, "b")]
    simulate_fit([cb.LearningRateScheduler(lambda epoch, lr: lr / 2)], [{"loss": 1.0}], model=model)
    assert [o.learning_rate for o in model.optimizer.optimizers] == pytest.approx([0.05, 0.1])
    assert model.history.history["learning_rate_a"] == pytest.approx([0.05])


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]

    def fake_time():
        now[0] += 0.002
        return now[0]

    monkeypatch.setattr(time, "time", fake_time)


def _visible(text):
    lines = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\b", "").split("\n")
    return [line.split("\r")[-1].rstrip() for line in lines if line.split("\r")[-1].strip()]


def test_progbar_logger_verbose1_fit(clock, capsys):
    logs = [{"accuracy": 0.8125, "loss": 0.5329}, {"accuracy": 0.9, "loss": 0.4}]
    simulate_fit([], logs, steps=45, verbose=1, validate=True)
    lines = _visible(capsys.readouterr().out)
    assert lines[0] == "Epoch 1/2"
    assert re.fullmatch(r"45/45 ━{20} 0s 2ms/step - accuracy: 0\.8125 - loss: 0\.5329", lines[1]), lines[1]
    assert lines[2] == "Epoch 2/2"
    assert "loss: 9" not in "".join(lines)  # validation inside fit is silent


def test_progbar_logger_verbose2_one_line_per_epoch(clock, capsys):
    simulate_fit([], [{"loss": 0.5}], steps=3, verbose=2)
    out = capsys.readouterr().out
    assert re.fullmatch(r"3/3 - 0s - \d+(us|ms)/step - loss: 0\.5000\n", out), repr(out)


def test_progbar_logger_silent_at_verbose0(clock, capsys):
    simulate_fit([], [{"loss": 0.5}] * 2, steps=3, verbose=0)
    assert capsys.readouterr().out == ""


def _drive_logger(logger_cls, verbose, steps):
    """fit (2 epochs, with validation), then evaluate, then predict, as Keras calls the logger."""
    out = io.StringIO()
    with redirect_stdout(out):
        logger = logger_cls()
        logger.set_params({"verbose": verbose, "epochs": 2, "steps": steps})
        logger.on_train_begin()
        for epoch in range(2):
            logger.on_epoch_begin(epoch)
            for batch in range(3):
                logger.on_train_batch_end(batch, {"accuracy": 0.5 + batch / 10, "loss": 1.0 / (batch + 1)})
            logger.on_test_begin()
            logger.on_test_batch_end(0, {"loss": 2.0})
            logger.on_test_end({"loss": 2.0})
            logger.on_epoch_end(epoch, {"accuracy": 0.7, "loss": 0.3333, "val_loss": 2.0})
        logger.on_train_end()
        for phase in ("test", "predict"):
            logger = logger_cls()
            logger.set_params({"verbose": verbose, "epochs": 1, "steps": steps})
            getattr(logger, f"on_{phase}_begin")()
            for batch in range(3):
                getattr(logger, f"on_{phase}_batch_end")(batch, {"loss": 0.25, "outputs": 7.0})
            getattr(logger, f"on_{phase}_end")({"loss": 0.25} if phase == "test" else None)
    return out.getvalue()


@pytest.mark.keras
@pytest.mark.parametrize("verbose, steps", [(1, 3), (2, 3), ("auto", None), (2, None)])
def test_progbar_logger_output_matches_keras(clock, verbose, steps):
    keras = _keras()
    ours = _drive_logger(cb.ProgbarLogger, verbose, steps)
    theirs = _drive_logger(keras.callbacks.ProgbarLogger, verbose, steps)
    assert ours == theirs
    assert ours  # the comparison is not between two empty strings


def test_progbar_logger_evaluate_and_predict_print(clock):
    out = _visible(_drive_logger(cb.ProgbarLogger, 1, 3))
    # Logs pass through as given (Keras prints every key); predict shows no values.
    assert re.fullmatch(r"3/3 ━{20} 0s \d+ms/step - loss: 0\.2500 - outputs: 7\.0000", out[-2]), out[-2]
    assert re.fullmatch(r"3/3 ━{20} 0s \d+ms/step", out[-1]), out[-1]


def _run_reduce_lr(callback, values, monitor="val_loss"):
    """The learning rate after each epoch of scripted monitored values."""
    model = FakeModel()
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        rates.append(model.optimizer.learning_rate)
        assert logs["learning_rate"] == pytest.approx(rates[-2] if epoch else 0.01)
    return rates


REDUCE_LR_CASES = [
    ({"patience": 1, "factor": 0.5}, [1.0, 1.0, 0.9, 0.95, 0.95, 0.95], "val_loss"),
    ({"patience": 0, "factor": 0.5, "cooldown": 2}, [1.0, 1.2, 1.3, 1.4, 1.5, 1.6], "val_loss"),
    ({"patience": 1, "factor": 0.1, "min_lr": 0.0005}, [1.0] * 6, "val_loss"),
    ({"patience": 1, "min_delta": 0.2}, [1.0, 0.9, 0.85, 0.5, 0.45], "val_loss"),
    ({"patience": 1, "factor": 0.5, "mode": "max"}, [0.5, 0.6, 0.55, 0.54, 0.7], "val_accuracy"),
]


@pytest.mark.keras
@pytest.mark.parametrize("kwargs, values, monitor", REDUCE_LR_CASES)
def test_reduce_lr_on_plateau_matches_keras(kwargs, values, monitor):
    keras = _keras()
    ours = _run_reduce_lr(cb.ReduceLROnPlateau(monitor=monitor, **kwargs), values, monitor)
    theirs = _run_reduce_lr(keras.callbacks.ReduceLROnPlateau(monitor=monitor, **kwargs), values, monitor)
    assert ours == pytest.approx(theirs)
    assert ours[-1] < 0.01


def test_reduce_lr_on_plateau_in_fit_and_its_checks(capsys):
    import kgraph

    model = kgraph.Sequential([kgraph.Input((2,)), kgraph.layers.Dense(1)])
    model.compile(optimizer=kgraph.optimizers.SGD(0.01), loss="mse")
    x = np.ones((8, 2), np.float32)
    # The first epoch sets the best loss; no later one beats it by 10, so each reduces the rate.
    reduce = cb.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0, verbose=1)
    history = model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[reduce])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0025)
    # The rate is a float32 variable, as in Keras: 0.01 * 0.5 prints as 0.004999999888241291.
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.00499999" in capsys.readouterr().out
    with pytest.raises(ValueError, match="factor >= 1.0"):
        cb.ReduceLROnPlateau(factor=1.5)
    with pytest.warns(UserWarning, match="not available"):
        _run_reduce_lr(cb.ReduceLROnPlateau(monitor="val_auc"), [1.0], "val_loss")


@pytest.mark.keras
@pytest.mark.parametrize("append", [False, True])
def test_csv_logger_writes_what_keras_writes(tmp_path, append):
    keras = _keras()
    epochs = [{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875}]
    texts = []
    for lib, name in ((cb, "ours.csv"), (keras.callbacks, "theirs.csv")):
        path = tmp_path / name
        path.write_text("epoch;accuracy;loss\n0;0.5;1.0\n" if append else "old")
        logger = lib.CSVLogger(str(path), separator=";", append=append)
        logger.set_model(FakeModel())
        for _ in range(2):  # two fits: the second appends only when asked to
            logger.on_train_begin()
            for epoch, logs in enumerate(epochs):
                logger.on_epoch_end(epoch, dict(logs))
            logger.on_train_end()
        texts.append(path.read_text())
    assert texts[0] == texts[1]
    assert texts[0].splitlines()[-1] == "1;0.875;0.25;NA;NA"

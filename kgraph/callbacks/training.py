"""The callback base class, the list that calls the hooks, and the callbacks that watch training.

The training loop calls a `CallbackList`, which hands every hook to each callback in
turn. Logs arrive as dicts of Python floats that are already running averages.
"""

from __future__ import annotations

import contextlib
import operator
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from kgraph.utils.progbar import Progbar, print_msg


class Callback:
    """Base class of callbacks: every hook does nothing until overridden.

    Attributes:
        params: Dict of training parameters (`verbose`, `epochs`, `steps`).
        model: The model being trained, evaluated or used for prediction.

    Example:

    >>> class PrintLoss(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, logs["loss"])
    """

    def __init__(self) -> None:
        self.params: dict | None = None
        self._model: Any = None

    def set_params(self, params: dict) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Legacy alias, called by the default `on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Legacy alias, called by the default `on_train_batch_end`."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the start of an epoch (training only)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Called at the end of an epoch with its metrics, `val_` ones included."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before a training batch."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after a training batch with the running metrics."""
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before an evaluation batch (in `evaluate` and in validation)."""

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after an evaluation batch."""

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Called before a prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Called after a prediction batch."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Called at the start of `fit`."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """Called at the end of `fit`."""

    def on_test_begin(self, logs: dict | None = None) -> None:
        """Called at the start of an evaluation."""

    def on_test_end(self, logs: dict | None = None) -> None:
        """Called at the end of an evaluation."""

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """Called at the start of `predict`."""

    def on_predict_end(self, logs: dict | None = None) -> None:
        """Called at the end of `predict`."""


def _pythonify_logs(logs: dict | None) -> dict:
    """Flattens nested dicts and turns values into floats where possible, keys sorted (as Keras)."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(_pythonify_logs(value))
            continue
        with contextlib.suppress(TypeError, ValueError):
            value = float(value)
        result[key] = value
    return result


def _flatten(items: Any) -> list:
    if items is None:
        return []
    if isinstance(items, list | tuple):
        return [leaf for item in items for leaf in _flatten(item)]
    return [items]


class CallbackList(Callback):
    """Dispatches every hook to a list of callbacks.

    Args:
        callbacks: List of `Callback` instances (nested lists are flattened).
        add_history: Whether to append a `History` if none is in `callbacks`.
        add_progbar: Whether to append a `ProgbarLogger` if none is in `callbacks`.
        model: The model the callbacks act on.
        **params: Training parameters (`verbose`, `epochs`, `steps`) given to every callback.
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        self.callbacks: list[Callback] = _flatten(list(callbacks) if callbacks else None)
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    def set_params(self, params: dict) -> None:
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model: Any) -> None:
        if not model:
            return
        super().set_model(model)
        if self._history:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _dispatch(self, hook: str, *args: Any, logs: dict | None = None) -> None:
        # One converted dict is shared by all callbacks, so a callback that adds a key
        # (LearningRateScheduler adds `learning_rate`) is seen by those after it.
        logs = _pythonify_logs(logs)
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs)

    def _dispatch_batch(self, hook: str, batch: int, logs: dict | None) -> None:
        # Keras passes `logs` by keyword to batch hooks only; user hooks may rely on it.
        logs = _pythonify_logs(logs)
        for callback in self.callbacks:
            getattr(callback, hook)(batch, logs=logs)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._dispatch_batch("on_batch_begin", batch, logs)

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._dispatch_batch("on_batch_end", batch, logs)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._dispatch("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._dispatch("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._dispatch_batch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._dispatch_batch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._dispatch_batch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._dispatch_batch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._dispatch_batch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._dispatch_batch("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._dispatch("on_train_begin", logs=logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._dispatch("on_train_end", logs=logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._dispatch("on_test_begin", logs=logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        self._dispatch("on_test_end", logs=logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._dispatch("on_predict_begin", logs=logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._dispatch("on_predict_end", logs=logs)


class History(Callback):
    """Records the logs of every epoch; `fit` returns it.

    Attributes:
        history: Dict mapping each metric name to its list of per-epoch values.
        epoch: List of the epoch indices seen.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class ProgbarLogger(Callback):
    """Prints metrics to stdout with a `Progbar`: a bar (verbose 1) or one line per epoch (verbose 2).

    Within `fit`, validation runs silently; `evaluate` and `predict` get their own bar.
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict) -> None:
        verbose = params["verbose"]
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params["epochs"]
        self.target = params["steps"]

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._called_in_fit = True

    def on_test_begin(self, logs: dict | None = None) -> None:
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Predictions are not metrics: show progress only.
        self._update_progbar(batch, None)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._finalize_progbar(logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._finalize_progbar(logs)

    def _reset_progbar(self) -> None:
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self) -> None:
        if self.progbar is None:
            # Logs already hold running averages, so every value is printed as given.
            self.progbar = Progbar(
                target=self.target, verbose=self.verbose, unit_name="step", stateless_metrics=set()
            )

    def _update_progbar(self, batch: int, logs: dict | None) -> None:
        self._maybe_init_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs: dict | None) -> None:
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)


# Metrics whose larger values are better; `mode='auto'` falls back on this list when
# the model's metric objects do not say (Keras reads a `_direction` attribute).
_MAXIMIZED_METRICS = {
    "acc",
    "accuracy",
    "auc",
    "binary_accuracy",
    "categorical_accuracy",
    "f1_score",
    "fbeta_score",
    "precision",
    "r2_score",
    "recall",
    "sparse_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "top_k_categorical_accuracy",
}
_MINIMIZED_METRICS = {
    "loss",
    "mae",
    "mape",
    "mse",
    "msle",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "root_mean_squared_error",
}


def _model_metrics(model: Any) -> list:
    """All metric objects of a model, looking inside containers that hold a `.metrics` list."""
    found: list = []
    pending = list(getattr(model, "metrics", None) or [])
    while pending:
        metric = pending.pop(0)
        if any(metric is seen for seen in found):
            continue
        found.append(metric)
        pending.extend(getattr(metric, "metrics", None) or [])
    return found


class MonitorCallback(Callback):
    """Base of the callbacks that watch one logged quantity (EarlyStopping, ReduceLROnPlateau), as Keras 3's.

    Args:
        monitor: Name of the logged quantity, e.g. `'val_loss'`.
        mode: `'min'`, `'max'`, or `'auto'`: the direction of the metric of that name (losses go down).
        baseline: The initial best value (None: the first value seen).
        min_delta: Smallest change that counts as an improvement.

    Raises:
        ValueError: at the first epoch, in `'auto'` mode, if the direction cannot be told.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline=None, min_delta: float = 0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op: Callable[[float, float], bool] | None = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self.monitor_op = operator.lt
        elif self.mode == "max":
            self.monitor_op = operator.gt
        else:
            name = self.monitor.removeprefix("val_")
            direction = None
            for metric in _model_metrics(self.model):
                if getattr(metric, "name", None) == name and getattr(metric, "_direction", None):
                    direction = metric._direction
            if direction is None and name in _MAXIMIZED_METRICS:
                direction = "up"
            elif direction is None and name in _MINIMIZED_METRICS:
                direction = "down"
            if direction is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but kgraph isn't able "
                    "to automatically determine whether that metric should be maximized or minimized. "
                    "Pass `mode='max'` in order to monitor based on the highest metric value, or pass "
                    "`mode='min'` in order to use the lowest value."
                )
            self.monitor_op = operator.gt if direction == "up" else operator.lt
        if self.monitor_op is operator.lt:
            # The comparison is `current - min_delta op reference`: a decrease must exceed min_delta.
            self.min_delta = -abs(self.min_delta)

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        return reference is None or bool(self.monitor_op(value - self.min_delta, reference))


class EarlyStopping(MonitorCallback):
    """Stops training when a monitored metric has stopped improving.

    Args:
        monitor: Name of the metric to monitor, e.g. `'val_loss'`.
        min_delta: Smallest change that counts as an improvement.
        patience: Epochs without improvement after which training stops.
        verbose: 1 prints a message when stopping or restoring.
        mode: `'min'`, `'max'`, or `'auto'` (inferred from the metric name).
        baseline: Value the metric must beat before the patience counter is reset.
        restore_best_weights: Whether to restore the weights of the best epoch at the
            end of training (even if training did not stop early).
        start_from_epoch: Epochs to wait before monitoring starts.

    Example:

    >>> callback = EarlyStopping(monitor="loss", patience=3)
    >>> history = model.fit(x, y, epochs=10, callbacks=[callback])
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.best: float | None = None
        self.best_weights: list | None = None
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Reset, so one instance can serve several `fit` calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something better comes, the first monitored epoch is the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Patience restarts only once the baseline is beaten too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: dict | None) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs.keys())}",
                stacklevel=2,
            )
        return value


class LambdaCallback(Callback):
    """Builds a callback from plain functions.

    Args:
        on_epoch_begin, on_epoch_end: Called as `f(epoch, logs)`.
        on_train_begin, on_train_end: Called as `f(logs)`.
        on_train_batch_begin, on_train_batch_end: Called as `f(batch, logs)`.
        **kwargs: Any other hook, e.g. `on_test_end=f`.

    Example:

    >>> print_epoch = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch))
    """

    def __init__(
        self,
        on_epoch_begin: Callable | None = None,
        on_epoch_end: Callable | None = None,
        on_train_begin: Callable | None = None,
        on_train_end: Callable | None = None,
        on_train_batch_begin: Callable | None = None,
        on_train_batch_end: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class TerminateOnNaN(Callback):
    """Stops training when the loss becomes NaN or infinite.

    Args:
        raise_error: Raise a `RuntimeError` at once instead of stopping after the epoch.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                "Terminating training immediately."
            )
        print_msg(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch.

    Args:
        schedule: Function `(epoch, lr) -> new_lr` (or `(epoch) -> new_lr`), epochs
            counted from 0, returning a float.
        verbose: 1 prints the new rate.

    Example:

    >>> callback = LearningRateScheduler(lambda epoch, lr: lr if epoch < 10 else lr * 0.9)
    """

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _update_lr(self, optimizer: Any, epoch: int) -> float:
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:
            # Schedules of the older one-argument form.
            lr = self.schedule(epoch)
        if not isinstance(lr, float | np.float32 | np.float64):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        optimizer.learning_rate = float(lr)
        return float(lr)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        # Optimizers that wrap several (Keras's MultiOptimizer) expose `.optimizers`.
        for opt in getattr(optimizer, "optimizers", None) or [optimizer]:
            lr = self._update_lr(opt, epoch)
            if self.verbose > 0:
                target = f"{opt.name} learning rate" if opt is not optimizer else "learning rate"
                print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting {target} to {lr}.")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        optimizer = self.model.optimizer
        if getattr(optimizer, "optimizers", None):
            for opt in optimizer.optimizers:
                logs[f"learning_rate_{opt.name}"] = float(opt.learning_rate)
        else:
            logs["learning_rate"] = float(optimizer.learning_rate)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by `factor` when a monitored metric has stopped improving.

    Args:
        monitor: Name of the metric to watch, e.g. `'val_loss'`.
        factor: What the rate is multiplied by (below 1): `new_lr = lr * factor`.
        patience: Epochs without improvement after which the rate is reduced.
        verbose: 1 prints a message at each reduction.
        mode: `'min'`, `'max'`, or `'auto'` (the direction of the metric of that name).
        min_delta: Smallest change that counts as an improvement.
        cooldown: Epochs to wait after a reduction before counting again.
        min_lr: Lower bound on the learning rate.

    Example:

    >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=0.001)
    >>> model.fit(x_train, y_train, callbacks=[reduce_lr])
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
            warnings.warn("`epsilon` argument is deprecated, use `min_delta` instead.", stacklevel=2)
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau got unexpected keyword arguments: {sorted(kwargs)}")
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self._reset()

    def _reset(self) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(optimizer, epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce(self, optimizer: Any, epoch: int) -> bool:
        old_lr = float(optimizer.learning_rate)
        if old_lr <= np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True


# The callbacks that write files live in their own module.

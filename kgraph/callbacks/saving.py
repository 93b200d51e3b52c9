"""Callbacks that write to disk: `ModelCheckpoint` and `BackupAndRestore` (Keras 3's behaviour and arguments).

Both save through `kgraph.saving`, so every file they write is replaced atomically: a crash mid-save leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import csv
import json
import operator
import os
import shutil
import warnings
from typing import Any

import numpy as np

from kgraph.callbacks.training import _MAXIMIZED_METRICS, _MINIMIZED_METRICS, Callback, _model_metrics
from kgraph.utils.progbar import print_msg


class _BatchCounter:
    """Counts batches across native calls that run several steps (`steps_per_execution`), as Keras does."""

    def __init__(self, save_freq):
        self.save_freq = save_freq
        self.since_last_save = 0
        self.last_batch: int | None = None

    def should_save(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        new_epoch = self.last_batch is None or batch <= self.last_batch
        added = batch + 1 if new_epoch else batch - self.last_batch
        self.since_last_save += added
        self.last_batch = batch
        if self.since_last_save >= self.save_freq:
            self.since_last_save = 0
            return True
        return False


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) during training, optionally only when a metric improves.

    Args:
        filepath: where to save; may hold `{epoch:02d}` and log keys such as `{val_loss:.2f}`. Must end in
            `.keras` (or legacy `.h5`), or `.weights.h5` with `save_weights_only=True`.
        monitor: the log key compared by `save_best_only`.
        verbose: 1 prints a line at each save.
        save_best_only: save only when `monitor` improves on the best value so far.
        save_weights_only: save with `save_weights` instead of `save`.
        mode: `'min'`, `'max'` or `'auto'` (from the metric's name).
        save_freq: `'epoch'`, or a number of batches.
        initial_value_threshold: the best value to beat at first.

    Raises:
        ValueError: for a file suffix that does not match `save_weights_only`, or an invalid `save_freq`.

    Example:

    >>> checkpoint = ModelCheckpoint("ckpt/model-{epoch:02d}-{val_loss:.2f}.keras", save_best_only=True)
    >>> model.fit(x, y, validation_split=0.2, epochs=10, callbacks=[checkpoint])
    """

    def __init__(
        self,
        filepath,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq="epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"ModelCheckpoint mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2)
            mode = "auto"
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = mode
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self.monitor_op = None
        self._current_epoch = 0
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(
                f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or integer values"
            )
        self._batches = _BatchCounter(save_freq)
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(
                    "When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must "
                    f"end in `.weights.h5` (Keras weights format). Received: filepath={self.filepath}"
                )
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError(
                f"The filepath provided must end in `.keras` (Keras model format). Received: "
                f"filepath={self.filepath}"
            )

    def _set_monitor_op(self) -> None:
        if self.mode in ("min", "max"):
            self.monitor_op = operator.lt if self.mode == "min" else operator.gt
            return
        name = self.monitor.removeprefix("val_")
        direction = None
        for metric in _model_metrics(self.model):
            if getattr(metric, "name", None) == name and getattr(metric, "_direction", None):
                direction = metric._direction
        if direction is None and (name in _MINIMIZED_METRICS or name.endswith("loss")):
            direction = "down"
        elif direction is None and name in _MAXIMIZED_METRICS:
            direction = "up"
        if direction is None:
            raise ValueError(
                f"ModelCheckpoint callback received monitor={self.monitor}, but kgraph isn't able to "
                "automatically determine whether that metric should be maximized or minimized. Pass "
                "`mode='max'` in order to monitor based on the highest metric value, or pass `mode='min'` in "
                "order to use the lowest value."
            )
        self.monitor_op = operator.gt if direction == "up" else operator.lt

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._batches.should_save(batch):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an existing "
                f"directory: {filepath}"
            )
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _should_save(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn(
                f"Can save best model only when `monitor` is a scalar value. Received: {current}. Falling "
                "back to `save_best_only=False`.",
                stacklevel=3,
            )
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self.best is None or self.monitor_op(current, self.best):
            if self.verbose > 0:
                print_msg(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving "
                    f"model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as error:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {error}'
            ) from error


class BackupAndRestore(Callback):
    """Backs up training state at the end of each epoch so an interrupted `fit` resumes where it stopped.

    At the start of `fit` the last backup (weights, optimizer state and epoch) is restored and training
    resumes from the next epoch; a successful `fit` deletes the backup.

    Args:
        backup_dir: the folder holding the backup (`latest.weights.h5`, `training_metadata.json`).
        save_freq: `'epoch'`, or a number of batches.
        double_checkpoint: also keep the previous backup (`*.bkp`), used when the latest cannot be read.
        delete_checkpoint: whether to delete the backup when training ends.

    Example:

    >>> model.fit(x, y, epochs=10, callbacks=[BackupAndRestore("/tmp/backup")])
    """

    def __init__(
        self,
        backup_dir,
        save_freq="epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and not isinstance(save_freq, int):
            raise ValueError(
                f"Invalid value for argument `save_freq`. Received: save_freq={save_freq}. Expected either "
                "'epoch' or an integer value."
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = f"{self._weights_path}.bkp"
        self._prev_metadata_path = f"{self._metadata_path}.bkp"
        self._batches = _BatchCounter(save_freq)
        self._current_epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        from kgraph.saving import FileFormatError

        try:
            self._restore()
        except (OSError, FileFormatError):
            if not os.path.exists(self._prev_weights_path):
                raise
            shutil.copyfile(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_metadata_path):
                shutil.copyfile(self._prev_metadata_path, self._metadata_path)
            elif os.path.exists(self._metadata_path):
                os.remove(self._metadata_path)
            self._restore()

    def _restore(self) -> None:
        model: Any = self.model
        if not model.built:
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you call `fit()`. "
                f"Model {model} is unbuilt. You can build it beforehand by calling it on a batch of data."
            )
        if os.path.exists(self._weights_path):
            model.load_weights(self._weights_path)
        if os.path.exists(self._metadata_path):
            with open(self._metadata_path) as f:
                metadata = json.load(f)
            model._initial_epoch = int(metadata["epoch"])

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch + 1
        self._batches.last_batch = None
        if self.save_freq == "epoch":
            self._backup()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._batches.should_save(batch):
            self._backup()

    def _backup(self) -> None:
        from kgraph.saving.atomic import atomic_path

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            shutil.copyfile(self._weights_path, self._prev_weights_path)
        if self.double_checkpoint and os.path.exists(self._metadata_path):
            shutil.copyfile(self._metadata_path, self._prev_metadata_path)
        self.model.save_weights(self._weights_path, overwrite=True)
        metadata = {"epoch": self._current_epoch, "batch": self._batches.last_batch or 0}
        with atomic_path(self._metadata_path) as tmp, open(tmp, "w") as f:
            json.dump(metadata, f)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


class CSVLogger(Callback):
    """Streams the logs of each epoch to a CSV file: an `epoch` column, then every log in sorted order.

    Args:
        filename: Path of the CSV file.
        separator: The column separator.
        append: Whether to append to an existing file (its header is kept) rather than overwrite it.

    Example:

    >>> csv_logger = CSVLogger("training.log")
    >>> model.fit(x_train, y_train, callbacks=[csv_logger])
    """

    def __init__(self, filename: str, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.sep, self.filename, self.append = separator, os.fspath(filename), append
        self.writer = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        mode = "w"
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as existing:
                    self.append_header = not bool(len(existing.readline()))
            mode = "a"
        self.csv_file = open(self.filename, mode, newline="")  # noqa: SIM115 - open for the whole fit

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}

        def handle_value(value):
            if isinstance(value, str):
                return value
            if isinstance(value, list | tuple | np.ndarray) and np.ndim(value) > 0:
                return f"[{', '.join(map(str, value))}]"
            return value

        if self.keys is None:
            self.keys = sorted(logs)
            # As Keras: without validation logs in the first epoch, their columns are added anyway ("NA").
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend([f"val_{key}" for key in self.keys])
        if getattr(self.model, "stop_training", False):
            logs = {key: logs.get(key, "NA") for key in self.keys}
        if self.writer is None:

            class _Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], dialect=_Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.csv_file is not None:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None

"""ModelCheckpoint (best-only, formatting, suffix rules) and BackupAndRestore (resume after a crash)."""

import os

import numpy as np
import pytest

import kgraph as keras
from tests.saving.models import data


def _model(seed=3):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def test_checkpoint_formats_the_path_each_epoch(tmp_path):
    x, y = data(32)
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.keras")
    model = _model()
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        shuffle=False,
        verbose=0,
        validation_data=(x, y),
        callbacks=[keras.callbacks.ModelCheckpoint(pattern)],
    )
    expected = {f"ckpt-{e + 1:02d}-{v:.2f}.keras" for e, v in enumerate(history.history["val_loss"])}
    assert {p.name for p in tmp_path.iterdir()} == expected
    last = sorted(tmp_path.iterdir())[-1]
    np.testing.assert_allclose(keras.models.load_model(last)(x), model(x), rtol=1e-6)


def test_checkpoint_saves_only_improvements(tmp_path):
    x, y = data(32)
    path = tmp_path / "best.weights.h5"
    saved_at = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if path.exists():
                saved_at.append((epoch, os.path.getmtime(path), path.stat().st_size))

    checkpoint = keras.callbacks.ModelCheckpoint(
        path, monitor="loss", save_best_only=True, save_weights_only=True, mode="max"
    )
    model = _model()
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[checkpoint, Spy()])
    # Loss falls every epoch, so with mode="max" only the first epoch is "best".
    assert checkpoint.best == pytest.approx(model.history.history["loss"][0])
    assert len({mtime for _, mtime, _ in saved_at}) == 1

    checkpoint = keras.callbacks.ModelCheckpoint(
        path, monitor="loss", save_best_only=True, save_weights_only=True
    )
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[checkpoint])
    assert checkpoint.best == pytest.approx(model.history.history["loss"][-1])
    restored = _model(seed=4)
    restored.load_weights(path)
    np.testing.assert_array_equal(restored.get_weights()[0], model.get_weights()[0])


def test_checkpoint_suffix_rules(tmp_path):
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`"):
        keras.callbacks.ModelCheckpoint(tmp_path / "w.keras", save_weights_only=True)
    with pytest.raises(ValueError, match=r"must end in `\.keras`"):
        keras.callbacks.ModelCheckpoint(tmp_path / "w.weights")
    with pytest.raises(ValueError, match="save_freq"):
        keras.callbacks.ModelCheckpoint(tmp_path / "w.keras", save_freq="batch")
    keras.callbacks.ModelCheckpoint(tmp_path / "legacy.h5")


def test_checkpoint_unknown_key_in_path(tmp_path):
    x, y = data(16)
    model = _model()
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "m-{val_acc:.2f}.keras"))
    with pytest.raises(KeyError, match="Failed to format"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[checkpoint])


class _Crash(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("simulated crash")


def test_backup_and_restore_resumes_where_training_stopped(tmp_path):
    x, y = data(32)
    straight = _model()
    straight.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)

    backup = tmp_path / "backup"
    model = _model()
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=4,
            shuffle=False,
            verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(backup), _Crash(at_epoch=1)],
        )
    assert (backup / "latest.weights.h5").exists()
    fresh = _model(seed=9)  # a new process would start from other weights: the backup replaces them
    history = fresh.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(backup)],
    )
    assert history.epoch == [2, 3]
    assert not backup.exists()
    for a, b in zip(straight.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_backup_and_restore_arguments():
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        keras.callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        keras.callbacks.BackupAndRestore("/tmp/x", save_freq="never")


def test_checkpoint_every_n_batches(tmp_path):
    x, y = data(32)
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=1)  # one callback per batch, as in Keras
    pattern = str(tmp_path / "e{epoch}-b{batch}.weights.h5")
    checkpoint = keras.callbacks.ModelCheckpoint(pattern, save_weights_only=True, save_freq=3)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[checkpoint])
    # 4 batches per epoch; a save every 3 batches seen: batch 3 of epoch 1, batch 2 of epoch 2.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1-b3.weights.h5", "e2-b2.weights.h5"]

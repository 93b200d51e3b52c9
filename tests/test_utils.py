"""kgraph.utils: one-hot, normalize, pad_sequences, seeding, and the Progbar's output."""

import io
import os
import random
import re
import time
from contextlib import redirect_stdout

import numpy as np
import pytest

from kgraph import random as kg_random
from kgraph import utils
from kgraph.utils import Progbar

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.fixture
def clock(monkeypatch):
    """Makes time.time advance 13 ms per call, so progress output is deterministic."""
    now = [1000.0]

    def fake_time():
        now[0] += 0.013
        return now[0]

    monkeypatch.setattr(time, "time", fake_time)


def _screen(text):
    """What a terminal would show last on each line: escapes removed, carriage returns applied."""
    lines = ANSI.sub("", text).replace("\b", "").split("\n")
    return [line.split("\r")[-1].rstrip() for line in lines if line.split("\r")[-1].strip()]


def test_to_categorical():
    out = utils.to_categorical([0, 2, 1], num_classes=4)
    np.testing.assert_array_equal(out, [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]])
    assert out.dtype == np.float64
    assert utils.to_categorical(np.array([[1], [0]])).shape == (2, 2)
    assert utils.to_categorical(np.array([[1, 0], [2, 2]])).shape == (2, 2, 3)


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x, axis=0, order=1), [[1.0, 1.0], [0.0, 0.0]])
    assert utils.normalize(np.array([3.0, 4.0])).shape == (1, 2)


def test_pad_sequences():
    seqs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs, maxlen=4),
        [[0, 1, 2, 3], [0, 0, 0, 4], [0, 0, 0, 0], [6, 7, 8, 9]],
    )
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs, maxlen=3, padding="post", truncating="post", value=-1),
        [[1, 2, 3], [4, -1, -1], [-1, -1, -1], [5, 6, 7]],
    )
    assert utils.pad_sequences(seqs).shape == (4, 5)
    assert utils.pad_sequences(seqs).dtype == np.int32
    assert utils.pad_sequences([np.ones((2, 3))], maxlen=4).shape == (1, 4, 3)


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="Padding type"):
        utils.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="Truncating type"):
        utils.pad_sequences([[1]], truncating="middle")
    with pytest.raises(ValueError, match="non-iterable"):
        utils.pad_sequences([1, 2])
    with pytest.raises(ValueError, match="dtype=object"):
        utils.pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match="expected shape"):
        utils.pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


@pytest.mark.keras
def test_array_utils_match_keras():
    keras = _keras()
    for args in ([[1], [2]], None), ([0, 2, 1], 3), (np.array([[0, 1], [2, 0]]), None):
        ours, theirs = utils.to_categorical(*args), keras.utils.to_categorical(*args)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    x = np.random.default_rng(0).random((3, 4))
    np.testing.assert_allclose(utils.normalize(x, order=1), keras.utils.normalize(x, order=1))
    seqs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
    post = {"maxlen": 4, "padding": "post", "truncating": "post"}
    for kwargs in ({}, {"maxlen": 2}, post, {"dtype": "f4"}):
        ours, theirs = utils.pad_sequences(seqs, **kwargs), keras.utils.pad_sequences(seqs, **kwargs)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


def test_set_random_seed_seeds_every_source():
    def draw():
        return random.random(), np.random.rand(), kg_random.global_generator().random(), kg_random.make_seed()

    utils.set_random_seed(42)
    first = draw()
    utils.set_random_seed(42)
    assert draw() == first
    assert kg_random.get_global_seed() == 42
    utils.set_random_seed(43)
    assert draw() != first


@pytest.mark.parametrize("bad", [1.0, "1", None])
def test_set_random_seed_rejects_non_int(bad):
    with pytest.raises(ValueError, match="integer"):
        utils.set_random_seed(bad)


def test_progbar_verbose1_format(clock, capsys):
    bar = Progbar(3)
    for step in (1, 2, 3):
        bar.update(step, [("accuracy", 0.8125), ("loss", 0.5329)])
    out = capsys.readouterr().out
    assert "━" * 20 in out and out.endswith("\n")
    final = _screen(out)[-1]
    assert re.fullmatch(r"3/3 ━{20} 0s \d+ms/step - accuracy: 0\.\d{4} - loss: 0\.\d{4}", final), final


def test_progbar_averages_unless_stateful(clock, capsys):
    bar = Progbar(4, interval=0)
    bar.update(1, [("loss", 1.0), ("acc", 0.5)])
    bar.update(3, [("loss", 4.0), ("acc", 0.9)])
    # loss is averaged over steps: (1 * 1 + 4 * 2) / 3 = 3.
    assert _screen(capsys.readouterr().out)[-1].endswith("- loss: 3.0000 - acc: 0.7667")
    stateful = Progbar(4, interval=0, stateful_metrics=["loss"])
    stateful.update(1, [("loss", 1.0)])
    stateful.update(3, [("loss", 4.0)])
    assert _screen(capsys.readouterr().out)[-1].endswith("- loss: 4.0000")


def test_progbar_small_values_use_exponent(clock, capsys):
    Progbar(1).update(1, [("loss", 2e-4)])
    assert "loss: 2.0000e-04" in capsys.readouterr().out


def test_progbar_verbose2_prints_one_line(clock, capsys):
    bar = Progbar(45, verbose=2)
    for step in range(1, 45):
        bar.update(step, [("loss", 0.5)])
    assert capsys.readouterr().out == ""
    bar.update(45, [("loss", 0.5)])
    out = capsys.readouterr().out
    assert re.fullmatch(r"45/45 - \d+s - \d+ms/step - loss: 0\.5000\n", out), out


def test_progbar_unknown_target_and_add(clock, capsys):
    bar = Progbar(None, interval=0)
    bar.add(2)
    bar.add(1, [("loss", 1.0)])
    assert _screen(capsys.readouterr().out)[-1].startswith("      3/Unknown")


def test_progbar_interval_throttles(clock, capsys):
    bar = Progbar(100, interval=100)
    for step in range(1, 100):
        bar.update(step)
    assert capsys.readouterr().out.count("\r") == 1
    bar.update(100)
    assert capsys.readouterr().out.count("\r") == 1


def test_progbar_verbose0_is_silent(clock, capsys):
    bar = Progbar(2, verbose=0)
    bar.update(1, [("loss", 1.0)])
    bar.update(2, [("loss", 1.0)])
    assert capsys.readouterr().out == ""


def test_progbar_rejects_both_metric_lists():
    with pytest.raises(ValueError):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])


@pytest.mark.keras
@pytest.mark.parametrize("kwargs", [{}, {"stateless_metrics": set()}, {"stateful_metrics": ["loss"]}])
def test_progbar_output_matches_keras_byte_for_byte(clock, kwargs):
    _keras()
    from keras.src.utils.progbar import Progbar as KerasProgbar

    def run(cls):
        buf = io.StringIO()
        with redirect_stdout(buf):
            for target, verbose in ((5, 1), (5, 2), (None, 1), (12, 1)):
                bar = cls(target, verbose=verbose, interval=0, **kwargs)
                for step in range(1, 6):
                    values = [("loss", 1.0 / step), ("acc", 1e-4 * step), ("neg", -0.5)]
                    bar.update(step, values, finalize=(step == 5) if target is None else None)
                bar.add(0, [("loss", 0.2)])
        return buf.getvalue()

    assert run(Progbar) == run(KerasProgbar)

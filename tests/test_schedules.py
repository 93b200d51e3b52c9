"""Tests for kgraph.optimizers.schedules: values against Keras 3 at many steps, eagerly and traced; config."""

from __future__ import annotations

import os

import numpy as np
import pytest
from update_programs import update_program

from kgraph.optimizers import schedules
from kgraph.variables import Variable


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


STEPS = [0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 15, 20, 33, 50, 100, 1000]
CASES = {
    "exponential": ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9}),
    "exponential_staircase": (
        "ExponentialDecay",
        {"initial_learning_rate": 0.3, "decay_steps": 4, "decay_rate": 0.5, "staircase": True},
    ),
    "piecewise": ("PiecewiseConstantDecay", {"boundaries": [5, 10, 20], "values": [0.1, 0.05, 0.01, 0.001]}),
    "piecewise_one_boundary": ("PiecewiseConstantDecay", {"boundaries": [3], "values": [1.0, 0.3]}),
    "polynomial": ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 20}),
    "polynomial_cycle": (
        "PolynomialDecay",
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 7,
            "end_learning_rate": 0.01,
            "power": 0.5,
            "cycle": True,
        },
    ),
    "inverse_time": ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5}),
    "inverse_time_staircase": (
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5, "staircase": True},
    ),
    "cosine": ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 30}),
    "cosine_alpha": ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 30, "alpha": 0.2}),
    "cosine_warmup": (
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 40,
            "alpha": 0.1,
            "warmup_target": 0.2,
            "warmup_steps": 10,
        },
    ),
    "cosine_restarts": ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 6}),
    "cosine_restarts_flat": (
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.1, "first_decay_steps": 6, "t_mul": 1.0, "m_mul": 0.5, "alpha": 0.1},
    ),
}


def _make(module, case: str):
    cls_name, kwargs = CASES[case]
    return getattr(module, cls_name)(**kwargs)


def _keras_values(case: str) -> np.ndarray:
    keras = _keras()
    schedule = _make(keras.optimizers.schedules, case)
    return np.array([float(schedule(np.int32(s))) for s in STEPS], np.float32)


def _eager_values(case: str) -> np.ndarray:
    schedule = _make(schedules, case)
    return np.array([float(schedule(s)) for s in STEPS], np.float32)


def _traced_values(case: str, backend: str) -> np.ndarray:
    schedule = _make(schedules, case)
    step, out = Variable(np.float32(0.0), name="step"), Variable(np.float32(0.0), name="out")
    run = update_program(lambda _: out.assign(schedule(step)), [step, out], backend=backend)
    values = []
    for s in STEPS:
        step.assign(float(s))
        run()
        values.append(float(out.numpy()))
    return np.array(values, np.float32)


@pytest.mark.keras
@pytest.mark.parametrize("case", list(CASES))
def test_matches_keras(case):
    np.testing.assert_allclose(_eager_values(case), _keras_values(case), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", list(CASES))
def test_traced_matches_eager(case):
    np.testing.assert_allclose(_traced_values(case, "numpy"), _eager_values(case), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", ["cosine_warmup", "polynomial_cycle", "cosine_restarts"])
def test_compiled_matches_eager(case):
    np.testing.assert_allclose(_traced_values(case, "cpu"), _eager_values(case), rtol=1e-6, atol=1e-9)


def test_eager_step_may_be_a_variable_or_array():
    schedule = schedules.ExponentialDecay(1.0, 2, 0.5)
    assert float(schedule(Variable(np.float32(4.0)))) == 0.25
    assert float(schedule(np.int64(4))) == 0.25


@pytest.mark.keras
@pytest.mark.parametrize("case", list(CASES))
def test_config_matches_keras(case):
    keras = _keras()
    ours, theirs = _make(schedules, case), _make(keras.optimizers.schedules, case)
    assert schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)


@pytest.mark.parametrize("case", list(CASES))
def test_config_round_trip(case):
    schedule = _make(schedules, case)
    rebuilt = schedules.deserialize(schedules.serialize(schedule))
    assert type(rebuilt) is type(schedule) and rebuilt.get_config() == schedule.get_config()
    assert float(rebuilt(7)) == float(schedule(7))


@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (
            schedules.ExponentialDecay,
            {"initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.5},
            "`decay_steps` must be > 0",
        ),
        (
            schedules.CosineDecayRestarts,
            {"initial_learning_rate": 0.1, "first_decay_steps": -1},
            "`first_decay_steps` must be > 0",
        ),
        (
            schedules.PiecewiseConstantDecay,
            {"boundaries": [1, 2], "values": [0.1, 0.2]},
            "length of boundaries should be 1 less",
        ),
    ],
)
def test_invalid_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_unknown_schedule_and_custom_schedule():
    with pytest.raises(ValueError, match="Unknown decay: 'Nope'"):
        schedules.deserialize({"class_name": "Nope", "config": {}})

    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.5 ** (step // 10)

        def get_config(self):
            return {}

    config = schedules.serialize(Halving())
    assert isinstance(schedules.deserialize(config, {"Halving": Halving}), Halving)
    with pytest.raises(NotImplementedError, match="must override `get_config"):
        schedules.LearningRateSchedule().get_config()

"""Initializers: formulas, moments, seeding, serialization, and parity with Keras 3."""

import json
import math
import os

import numpy as np
import pytest

from kgraph import initializers
from kgraph import random as kg_random
from kgraph.utils import set_random_seed

# (class, scale, mode, distribution) as Keras defines the presets.
PRESETS = [
    (initializers.GlorotNormal, 1.0, "fan_avg", "truncated_normal"),
    (initializers.GlorotUniform, 1.0, "fan_avg", "uniform"),
    (initializers.HeNormal, 2.0, "fan_in", "truncated_normal"),
    (initializers.HeUniform, 2.0, "fan_in", "uniform"),
    (initializers.LecunNormal, 1.0, "fan_in", "truncated_normal"),
    (initializers.LecunUniform, 1.0, "fan_in", "uniform"),
]
RANDOM_CLASSES = [
    initializers.RandomNormal,
    initializers.RandomUniform,
    initializers.TruncatedNormal,
    initializers.VarianceScaling,
    initializers.Orthogonal,
] + [p[0] for p in PRESETS]


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((3, 5), (3, 5)),
        ((3, 3, 4, 8), (36, 72)),
        ((2, 3, 5, 6, 7), (180, 210)),
    ],
)
def test_compute_fans_formula(shape, fans):
    assert initializers.compute_fans(shape) == fans


def test_compute_fans_with_axes():
    assert initializers.compute_fans((2, 3, 4), input_axes=(0, 1), output_axes=(2,)) == (6, 4)


@pytest.mark.parametrize("cls, scale, mode, distribution", PRESETS)
def test_presets_are_variance_scaling(cls, scale, mode, distribution):
    init = cls(seed=1)
    assert isinstance(init, initializers.VarianceScaling)
    assert (init.scale, init.mode, init.distribution) == (scale, mode, distribution)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_variance_formula(mode):
    shape = (3, 3, 16, 32)
    fan_in, fan_out = 3 * 3 * 16, 3 * 3 * 32
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    init = initializers.VarianceScaling(scale=2.5, mode=mode, seed=0)
    assert init.variance(shape) == pytest.approx(2.5 / fan)


def test_variance_floor_of_one_for_small_fans():
    assert initializers.VarianceScaling(scale=3.0, seed=0).variance(()) == pytest.approx(3.0)


@pytest.mark.parametrize("cls, scale, mode, distribution", PRESETS)
def test_preset_moments_and_bounds(cls, scale, mode, distribution):
    shape = (400, 500)
    values = cls(seed=7)(shape)
    assert values.dtype == np.float32 and values.shape == shape
    fan = {"fan_in": 400, "fan_avg": 450}[mode]
    variance = scale / fan
    assert abs(values.mean()) < 5 * math.sqrt(variance / values.size)
    # 200k samples: the sample std is within about 0.2 % of the truth.
    assert values.std() == pytest.approx(math.sqrt(variance), rel=0.01)
    if distribution == "uniform":
        limit = math.sqrt(3 * variance)
        assert np.abs(values).max() <= limit * (1 + 1e-6)
        assert np.abs(values).max() > 0.999 * limit
    else:
        raw_stddev = math.sqrt(variance) / 0.87962566103423978
        assert np.abs(values).max() <= 2 * raw_stddev * (1 + 1e-6)
        assert np.abs(values).max() > 0.99 * 2 * raw_stddev


def test_untruncated_normal_moments():
    init = initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal", seed=3)
    values = init((300, 600))
    assert values.std() == pytest.approx(math.sqrt(2.0 / 600), rel=0.01)
    # An untruncated normal goes past two stddevs about 4.6 % of the time.
    assert (np.abs(values) > 2 * math.sqrt(2.0 / 600)).mean() == pytest.approx(0.0455, abs=0.005)


def test_normal_distribution_alias_is_truncated():
    assert initializers.VarianceScaling(distribution="Normal", seed=0).distribution == "truncated_normal"


def test_random_normal_moments():
    values = initializers.RandomNormal(mean=1.5, stddev=0.3, seed=2)((200_000,))
    assert values.mean() == pytest.approx(1.5, abs=0.005)
    assert values.std() == pytest.approx(0.3, rel=0.01)


def test_random_uniform_bounds_and_moments():
    values = initializers.RandomUniform(minval=-1.0, maxval=3.0, seed=2)((200_000,))
    assert values.min() >= -1.0 and values.max() <= 3.0
    assert values.mean() == pytest.approx(1.0, abs=0.02)
    assert values.var() == pytest.approx(16 / 12, rel=0.02)


def test_truncated_normal_resamples_beyond_two_stddev():
    values = initializers.TruncatedNormal(mean=2.0, stddev=0.5, seed=4)((200_000,))
    assert values.min() >= 1.0 and values.max() <= 3.0
    assert values.mean() == pytest.approx(2.0, abs=0.005)
    # Std of a normal truncated at +-2 sigma is 0.8796 sigma.
    assert values.std() == pytest.approx(0.5 * 0.87962566103423978, rel=0.01)


@pytest.mark.parametrize("shape", [(6, 6), (20, 5), (5, 20), (3, 3, 4, 8)])
def test_orthogonal_is_orthogonal(shape):
    q = initializers.Orthogonal(gain=1.0, seed=5)(shape).reshape(-1, shape[-1]).astype(np.float64)
    if q.shape[0] >= q.shape[1]:
        np.testing.assert_allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-5)
    else:
        np.testing.assert_allclose(q @ q.T, np.eye(q.shape[0]), atol=1e-5)


def test_orthogonal_gain_and_rank_check():
    q = initializers.Orthogonal(gain=3.0, seed=5)((4, 4)).astype(np.float64)
    np.testing.assert_allclose(q.T @ q, 9 * np.eye(4), atol=1e-4)
    with pytest.raises(ValueError, match="rank 2"):
        initializers.Orthogonal()((5,))


def test_constant_initializers():
    assert np.array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    assert np.array_equal(initializers.Ones()((4,)), np.ones(4))
    values = initializers.Constant(2.5)((2, 2))
    assert values.dtype == np.float32 and np.all(values == 2.5)
    assert initializers.Zeros()((2,), dtype="int32").dtype == np.int32
    assert np.array_equal(initializers.Constant(np.array([1.0, 2.0]))((3, 2)), [[1, 2]] * 3)


def test_identity():
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 3)), [[2, 0, 0], [0, 2, 0]])
    assert initializers.IdentityInitializer is initializers.Identity
    with pytest.raises(ValueError, match="2D"):
        initializers.Identity()((2, 2, 2))


@pytest.mark.parametrize("cls", RANDOM_CLASSES)
def test_seeded_initializer_repeats_its_values(cls):
    a, b = cls(seed=11), cls(seed=11)
    np.testing.assert_array_equal(a((8, 8)), a((8, 8)))
    np.testing.assert_array_equal(a((8, 8)), b((8, 8)))
    assert not np.array_equal(a((8, 8)), cls(seed=12)((8, 8)))


def test_unseeded_initializer_repeats_and_follows_global_seed():
    # Keras 3 draws the seed of an unseeded initializer once, at construction.
    init = initializers.RandomNormal()
    np.testing.assert_array_equal(init((5,)), init((5,)))
    assert not np.array_equal(initializers.RandomNormal()((5,)), initializers.RandomNormal()((5,)))
    set_random_seed(123)
    first = initializers.GlorotUniform()((4, 4))
    set_random_seed(123)
    np.testing.assert_array_equal(initializers.GlorotUniform()((4, 4)), first)


def test_seed_generator_gives_new_values_each_call():
    init = initializers.RandomUniform(seed=kg_random.SeedGenerator(3))
    first, second = init((6,)), init((6,))
    assert not np.array_equal(first, second)
    again = initializers.RandomUniform(seed=kg_random.SeedGenerator(3))
    np.testing.assert_array_equal(again((6,)), first)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="seed"):
        initializers.RandomNormal(seed=1.5)
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_max")
    with pytest.raises(ValueError, match="distribution"):
        initializers.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="float"):
        initializers.RandomNormal(seed=0)((2,), dtype="int32")


def test_dtype_argument():
    assert initializers.HeNormal(seed=0)((3, 3), dtype="float64").dtype == np.float64
    assert initializers.HeNormal(seed=0)(5).shape == (5,)


@pytest.mark.parametrize(
    "init",
    [
        initializers.Zeros(),
        initializers.Constant(3.0),
        initializers.Identity(0.5),
        initializers.RandomNormal(0.1, 0.2, seed=4),
        initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=1),
        initializers.Orthogonal(gain=2.0),
        initializers.HeUniform(seed=9),
    ],
)
def test_serialization_round_trip(init):
    config = initializers.serialize(init)
    restored = initializers.deserialize(json.loads(json.dumps(config)))
    assert type(restored) is type(init)
    assert restored.get_config() == init.get_config()
    if getattr(init, "_init_seed", None) is not None:
        np.testing.assert_array_equal(restored((4, 4)), init((4, 4)))


def test_get():
    assert initializers.get(None) is None
    assert isinstance(initializers.get("glorot_uniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get("uniform"), initializers.RandomUniform)
    assert isinstance(initializers.get(initializers.Ones), initializers.Ones)
    init = initializers.HeNormal()
    assert initializers.get(init) is init

    def fn(shape, dtype=None):
        return np.ones(shape)

    assert initializers.get(fn) is fn
    from_dict = initializers.get({"class_name": "RandomNormal", "config": {"stddev": 2.0, "seed": 1}})
    assert from_dict.stddev == 2.0
    array = np.arange(4.0).reshape(2, 2)
    np.testing.assert_array_equal(initializers.get(array)((2, 2)), array)
    with pytest.raises(ValueError, match="shape"):
        initializers.get(array)((4,))
    with pytest.raises(ValueError, match="glorot_uniform"):
        initializers.get("glorot_unifrom")
    with pytest.raises(ValueError, match="interpret"):
        initializers.get(42)


def test_deserialize_custom_object():
    class Halves(initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 0.5, dtype="float32")

    config = initializers.serialize(Halves())
    restored = initializers.deserialize(config, custom_objects={"Halves": Halves})
    assert isinstance(restored, Halves)


@pytest.mark.keras
def test_public_names_match_keras():
    keras = _keras()
    keras_names = {n for n in dir(keras.initializers) if not n.startswith("_") and "stft" not in n.lower()}
    missing = keras_names - set(dir(initializers))
    assert not missing
    for name in keras_names - {"get", "serialize", "deserialize", "Initializer"}:
        assert getattr(initializers, name).__name__ == getattr(keras.initializers, name).__name__


@pytest.mark.keras
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("RandomNormal", {"mean": 0.5, "stddev": 0.1, "seed": 3}),
        ("RandomUniform", {"seed": 3}),
        ("TruncatedNormal", {}),
        ("VarianceScaling", {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform", "seed": 1}),
        ("GlorotUniform", {"seed": 3}),
        ("HeNormal", {}),
        ("Orthogonal", {"gain": 2.0, "seed": 5}),
        ("Constant", {"value": 2.0}),
        ("Zeros", {}),
    ],
)
def test_config_and_serialization_match_keras(name, kwargs):
    keras = _keras()
    ours = getattr(initializers, name)(**kwargs)
    theirs = getattr(keras.initializers, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert initializers.serialize(ours) == keras.initializers.serialize(theirs)
    # Keras reads what we write.
    back = keras.initializers.deserialize(initializers.serialize(ours))
    assert back.get_config() == theirs.get_config()


@pytest.mark.keras
def test_identity_keeps_gain_in_config_unlike_keras():
    # Keras 3.15 drops `gain` from Identity's config; we keep it, and Keras still reads ours.
    keras = _keras()
    config = initializers.serialize(initializers.Identity(gain=3.0))
    assert config["config"] == {"gain": 3.0}
    assert keras.initializers.deserialize(config).gain == 3.0


@pytest.mark.keras
@pytest.mark.parametrize("cls", [p[0] for p in PRESETS] + [initializers.TruncatedNormal])
def test_spread_matches_keras(cls):
    keras = _keras()
    shape = (300, 200)
    ours = cls(seed=1)(shape)
    theirs = np.asarray(getattr(keras.initializers, cls.__name__)(seed=1)(shape))
    assert theirs.dtype == ours.dtype
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.01)
    assert ours.std() == pytest.approx(theirs.std(), rel=0.02)


@pytest.mark.keras
def test_seed_none_repeats_like_keras():
    keras = _keras()
    theirs = keras.initializers.RandomNormal()
    assert np.array_equal(np.asarray(theirs((3,))), np.asarray(theirs((3,))))
    ours = initializers.RandomNormal()
    assert np.array_equal(ours((3,)), ours((3,)))

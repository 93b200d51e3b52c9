"""Reshaping layers: the shared layer test, gradients against finite differences, and parity with Keras 3."""

import numpy as np
import pytest

from kgraph import layers
from kgraph.testing import run_layer_test
from tests.layers.checks import assert_matches_keras, check_layer_gradients

RNG = np.random.default_rng(0)

# (class name, init kwargs, input shape without the batch, expected output shape without the batch)
CASES = [
    ("ZeroPadding1D", {}, (4, 3), (6, 3)),
    ("ZeroPadding1D", {"padding": (0, 2), "data_format": "channels_first"}, (3, 4), (3, 6)),
    ("ZeroPadding2D", {}, (3, 4, 2), (5, 6, 2)),
    ("ZeroPadding2D", {"padding": ((1, 0), (2, 3))}, (3, 4, 2), (4, 9, 2)),
    ("ZeroPadding2D", {"padding": (1, 2), "data_format": "channels_first"}, (2, 3, 4), (2, 5, 8)),
    ("Cropping1D", {}, (5, 3), (3, 3)),
    ("Cropping1D", {"cropping": (2, 0)}, (5, 3), (3, 3)),
    ("Cropping2D", {"cropping": ((1, 0), (0, 2))}, (4, 5, 2), (3, 3, 2)),
    ("Cropping2D", {"cropping": 1, "data_format": "channels_first"}, (2, 4, 5), (2, 2, 3)),
    ("UpSampling1D", {"size": 3}, (4, 2), (12, 2)),
    ("UpSampling2D", {}, (3, 4, 2), (6, 8, 2)),
    ("UpSampling2D", {"size": (1, 3), "data_format": "channels_first"}, (2, 3, 4), (2, 3, 12)),
    ("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, (3, 4, 2), (6, 12, 2)),
    ("RepeatVector", {"n": 3}, (4,), (3, 4)),
    ("Permute", {"dims": (2, 1)}, (3, 4), (4, 3)),
    ("Permute", {"dims": (3, 1, 2)}, (2, 3, 4), (4, 2, 3)),
    ("Reshape", {"target_shape": (-1, 2)}, (3, 4), (6, 2)),
    ("Reshape", {"target_shape": (2, -1, 3)}, (12,), (2, 2, 3)),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


@pytest.mark.parametrize("name,kwargs,shape,expected", CASES, ids=IDS)
def test_layer(name, kwargs, shape, expected):
    run_layer_test(getattr(layers, name), kwargs, (None, *shape), (None, *expected))


@pytest.mark.parametrize("name,kwargs,shape,expected", CASES[::2], ids=IDS[::2])
def test_gradients(name, kwargs, shape, expected):
    x = RNG.normal(size=(2, *shape))
    check_layer_gradients(getattr(layers, name)(**kwargs), x)


@pytest.mark.keras
@pytest.mark.parametrize("name,kwargs,shape,expected", CASES, ids=IDS)
def test_matches_keras(name, kwargs, shape, expected):
    keras = pytest.importorskip("keras")
    x = RNG.normal(size=(3, *shape)).astype(np.float32)
    out = assert_matches_keras(getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs), x)
    assert out.shape == (3, *expected)
    theirs = getattr(keras.layers, name)(**kwargs).get_config()
    ours = getattr(layers, name)(**kwargs).get_config()
    assert {k: v for k, v in ours.items() if k not in ("name", "dtype")} == {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in theirs.items() if k not in ("name", "dtype")
    }


def test_nearest_upsampling_repeats_and_padding_pads_with_zeros():
    x = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(
        layers.UpSampling2D(2)(x)[0, :, :, 0], np.kron(x[0, :, :, 0], np.ones((2, 2)))
    )
    padded = layers.ZeroPadding2D(((1, 0), (0, 1)))(x)[0, :, :, 0]
    np.testing.assert_array_equal(padded, [[0, 0, 0], [0, 1, 0], [2, 3, 0]])


def test_argument_errors_name_what_was_received():
    with pytest.raises(
        ValueError, match=r"`padding` argument must be a tuple of 2 integers. Received padding=\(1, 2, 3\)"
    ):
        layers.ZeroPadding1D((1, 2, 3))
    with pytest.raises(ValueError, match="cropping.*smaller than the input length"):
        layers.Cropping1D((2, 2))(layers.Input((4, 3)))
    with pytest.raises(ValueError, match="Invalid permutation argument `dims`"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match="interpolation"):
        layers.UpSampling2D(interpolation="lanczos3")
    with pytest.raises(ValueError, match="expected ndim=2, found ndim=3"):
        layers.RepeatVector(2)(layers.Input((3, 4)))

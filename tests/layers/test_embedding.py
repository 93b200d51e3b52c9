"""Embedding and Masking: the shared layer test, the masks they make, and parity with Keras 3."""

import numpy as np
import pytest

from kgraph.layers import Embedding, Masking
from kgraph.testing import run_layer_test

TOKENS = np.array([[1, 2, 0, 0], [3, 8, 8, 0], [0, 1, 2, 3]], np.float32)


def test_embedding_layer_helper():
    run_layer_test(
        Embedding, {"input_dim": 9, "output_dim": 3}, (None, 4), (None, 4, 3), 1, input_data=TOKENS
    )


def test_masking_layer_helper():
    x = np.random.default_rng(0).normal(size=(3, 4, 2)).astype(np.float32)
    x[0, 2:] = 0.0
    run_layer_test(Masking, {"mask_value": 0.0}, (None, 4, 2), (None, 4, 2), input_data=x)


def test_masks():
    assert Embedding(9, 3).compute_mask(TOKENS) is None
    np.testing.assert_array_equal(Embedding(9, 3, mask_zero=True).compute_mask(TOKENS), TOKENS != 0)
    x = np.ones((1, 3, 2), np.float32)
    x[0, 1] = 5.0
    np.testing.assert_array_equal(Masking(5.0).compute_mask(x), [[1, 0, 1]])
    np.testing.assert_array_equal(Masking(5.0)(x)[0, 1], [0, 0])


def test_invalid_sizes_name_the_layer():
    with pytest.raises(ValueError, match="Layer 'emb'.*input_dim"):
        Embedding(0, 3, name="emb")


def test_embedding_matches_keras():
    keras = pytest.importorskip("keras")
    reference = keras.layers.Embedding(9, 3)
    expected = np.asarray(reference(TOKENS.astype("int32")))
    ours = Embedding(9, 3)
    ours.build((None, 4))
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(ours(TOKENS), expected, rtol=1e-6)

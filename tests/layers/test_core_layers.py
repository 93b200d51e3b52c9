"""Every core layer through the shared layer test, plus Keras's documented behaviour and error cases."""

import numpy as np
import pytest

from kgraph import layers
from kgraph.testing import run_layer_test


def test_dense():
    layer = run_layer_test(
        layers.Dense,
        {"units": 5, "activation": "relu"},
        (None, 4),
        (None, 5),
        expected_num_trainable_weights=2,
    )
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(layer(x), np.maximum(x @ kernel + bias, 0), rtol=1e-6)


def test_dense_on_a_sequence_applies_to_the_last_axis():
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    layer = run_layer_test(
        layers.Dense,
        {"units": 6, "activation": "tanh"},
        (None, 5, 4),
        (None, 5, 6),
        expected_num_trainable_weights=2,
        input_data=x,
    )
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(layer(x), np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_dense_without_bias_and_with_regularizers():
    layer = run_layer_test(
        layers.Dense,
        {"units": 3, "use_bias": False, "kernel_regularizer": "l2"},
        (None, 4),
        (None, 3),
        expected_num_trainable_weights=1,
    )
    assert [w.name for w in layer.weights] == ["kernel"]


def test_dense_input_dimension_mismatch_names_the_layer():
    layer = layers.Dense(3, name="my_dense")
    layer(layers.Input((4,)))
    with pytest.raises(ValueError, match='layer "my_dense".*expected axis -1 of input shape to have value 4'):
        layer(layers.Input((5,)))


@pytest.mark.parametrize(
    "activation",
    [
        "relu",
        "sigmoid",
        "tanh",
        "softmax",
        "linear",
        "elu",
        "selu",
        "softplus",
        "softsign",
        "swish",
        "gelu",
        "leaky_relu",
        "hard_sigmoid",
        "relu6",
        "exponential",
    ],
)
def test_activation(activation):
    from kgraph import activations

    x = np.linspace(-3, 3, 24, dtype=np.float32).reshape(4, 6)
    run_layer_test(
        layers.Activation,
        {"activation": activation},
        (None, 6),
        (None, 6),
        input_data=x,
        expected_output=activations.get(activation)(x),
        compiled=activation in ("relu", "softmax"),
    )


def test_dropout_is_identity_at_inference_and_scales_in_training():
    run_layer_test(layers.Dropout, {"rate": 0.5}, (None, 8), (None, 8))
    from kgraph.testing import run_traced

    layer = layers.Dropout(0.25)
    x = np.ones((400, 50), np.float32)
    for backend in ("numpy", "cpu"):
        y = run_traced(lambda t: layer(t, training=True), x, backend=backend)
        kept = y != 0
        assert 0.70 < kept.mean() < 0.80, backend
        np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)


def test_flatten_and_reshape():
    run_layer_test(layers.Flatten, {}, (None, 2, 3), (None, 6))
    run_layer_test(layers.Reshape, {"target_shape": (3, -1)}, (None, 6), (None, 3, 2))
    with pytest.raises(ValueError, match="total size"):
        layers.Reshape((4, 2))(layers.Input((6,)))


def test_flatten_channels_first_moves_channels_last_first():
    x = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    expected = x.transpose(0, 2, 3, 1).reshape(1, -1)  # Keras's documented order
    layer = run_layer_test(
        layers.Flatten, {"data_format": "channels_first"}, (None, 2, 3, 4), (None, 24), input_data=x
    )
    np.testing.assert_array_equal(layer(x), expected)
    assert layers.Flatten().get_config()["data_format"] == "channels_last"


def test_concatenate_and_add():
    a, b = layers.Input((3,)), layers.Input((2,))
    assert layers.concatenate([a, b]).shape == (None, 5)
    assert layers.Add()([a, layers.Input((3,))]).shape == (None, 3)
    x, y = np.ones((2, 3), np.float32), np.full((2, 2), 2.0, np.float32)
    np.testing.assert_allclose(layers.Concatenate()([x, y]), np.concatenate([x, y], axis=-1))
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.Add()([a])


def test_unknown_keyword_is_rejected():
    with pytest.raises(TypeError, match="Unrecognized keyword arguments"):
        layers.Dense(3, nonsense=1)

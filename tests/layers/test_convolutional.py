"""Convolution layers: the shared layer test, forward parity with Keras 3 (JAX) for every layer and its main
options, training parity for a small CNN, the kernel count of conv + bias + relu, and Keras's mnist_cnn on
scikit-learn's digits."""

import numpy as np
import pytest

import kgraph
from kgraph import layers
from kgraph.ir import Graph, Sym, tracing
from kgraph.passes.fuse import fuse
from kgraph.passes.simplify import simplify
from kgraph.testing import run_layer_test

# (layer, arguments, input shape with batch None, output shape, trainable weights)
LAYER_CASES = [
    ("Conv2D", {"filters": 4, "kernel_size": 3, "activation": "relu"}, (None, 7, 6, 3), (None, 5, 4, 4), 2),
    (
        "Conv2D",
        {"filters": 4, "kernel_size": (3, 2), "strides": 2, "padding": "same"},
        (None, 7, 6, 3),
        (None, 4, 3, 4),
        2,
    ),
    (
        "Conv2D",
        {"filters": 4, "kernel_size": 3, "groups": 2, "dilation_rate": 2, "use_bias": False},
        (None, 7, 6, 4),
        (None, 3, 2, 4),
        1,
    ),
    (
        "Conv2D",
        {"filters": 4, "kernel_size": 3, "data_format": "channels_first"},
        (None, 3, 7, 6),
        (None, 4, 5, 4),
        2,
    ),
    (
        "Conv1D",
        {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
        (None, 9, 3),
        (None, 9, 4),
        2,
    ),
    (
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
        (None, 5, 4, 3),
        (None, 10, 8, 4),
        2,
    ),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}, (None, 5, 3), (None, 11, 2), 2),
    (
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"},
        (None, 6, 5, 3),
        (None, 6, 5, 6),
        2,
    ),
    ("DepthwiseConv1D", {"kernel_size": 3, "strides": 2}, (None, 9, 3), (None, 4, 3), 2),
    (
        "SeparableConv2D",
        {"filters": 5, "kernel_size": 3, "depth_multiplier": 2},
        (None, 7, 6, 3),
        (None, 5, 4, 5),
        3,
    ),
    ("SeparableConv1D", {"filters": 5, "kernel_size": 3, "padding": "same"}, (None, 7, 3), (None, 7, 5), 3),
]


@pytest.mark.parametrize("name,kwargs,input_shape,output_shape,weights", LAYER_CASES)
def test_layer(name, kwargs, input_shape, output_shape, weights):
    run_layer_test(
        getattr(layers, name), kwargs, input_shape, output_shape, expected_num_trainable_weights=weights
    )


# (layer, arguments, input shape): every layer and its main options, eagerly against Keras on JAX.
PARITY_CASES = [
    ("Conv2D", {"filters": 4, "kernel_size": 3}, (2, 7, 6, 3)),
    ("Conv2D", {"filters": 4, "kernel_size": (3, 2), "strides": 2, "padding": "same"}, (2, 7, 6, 3)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (2, 7, 6, 3)),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2, "activation": "tanh"}, (2, 7, 6, 4)),
    (
        "Conv2D",
        {"filters": 4, "kernel_size": 3, "data_format": "channels_first", "activation": "relu"},
        (2, 3, 7, 6),
    ),
    ("Conv2D", {"filters": 4, "kernel_size": 1, "use_bias": False}, (2, 7, 6, 3)),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (2, 9, 3)),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 9, 3)),
    ("Conv1D", {"filters": 4, "kernel_size": 2, "data_format": "channels_first"}, (2, 3, 9)),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3}, (2, 5, 4, 3)),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 5, 4, 3)),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 2, "strides": 3}, (2, 5, 4, 3)),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 1}, (2, 5, 4, 3)),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 4, "strides": 2, "padding": "same"}, (2, 5, 4, 3)),
    (
        "Conv2DTranspose",
        {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
        (2, 5, 4, 3),
    ),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "data_format": "channels_first"}, (2, 3, 5, 4)),
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 5, 3)),
    (
        "DepthwiseConv2D",
        {"kernel_size": 3, "depth_multiplier": 2, "padding": "same", "strides": 2},
        (2, 7, 6, 3),
    ),
    ("DepthwiseConv2D", {"kernel_size": 3, "data_format": "channels_first"}, (2, 3, 7, 6)),
    ("DepthwiseConv1D", {"kernel_size": 3, "dilation_rate": 2}, (2, 9, 3)),
    (
        "SeparableConv2D",
        {"filters": 5, "kernel_size": 3, "depth_multiplier": 2, "activation": "relu"},
        (2, 7, 6, 3),
    ),
    ("SeparableConv1D", {"filters": 5, "kernel_size": 3, "padding": "same"}, (2, 7, 3)),
]


def _keras_pair(name, kwargs, input_shape):
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=input_shape).astype(np.float32)
    reference = getattr(keras.layers, name)(**kwargs)
    reference(x)  # builds the Keras layer
    layer = getattr(layers, name)(**kwargs)
    layer.build((None, *input_shape[1:]))
    # Random biases, so that the bias is checked too (Keras initializes them to zero).
    weights = [w + np.random.default_rng(1).normal(size=w.shape) for w in reference.get_weights()]
    reference.set_weights(weights)
    layer.set_weights(weights)
    return x, layer, reference


@pytest.mark.keras
@pytest.mark.parametrize("name,kwargs,input_shape", PARITY_CASES)
def test_same_weights_give_keras_outputs(name, kwargs, input_shape):
    x, layer, reference = _keras_pair(name, kwargs, input_shape)
    np.testing.assert_allclose(layer(x), np.asarray(reference(x)), rtol=1e-4, atol=1e-5)
    config = reference.get_config()
    assert set(layer.get_config()) == set(config)
    assert [w.path.split("/")[-1] for w in layer.weights] == [
        w.path.split("/")[-1] for w in reference.weights
    ]


def _small_cnn(module, data_format="channels_last"):
    shape = (8, 8, 2) if data_format == "channels_last" else (2, 8, 8)
    return module.Sequential(
        [
            module.Input(shape),
            module.layers.Conv2D(4, 3, activation="relu", padding="same", data_format=data_format),
            module.layers.MaxPooling2D(data_format=data_format),
            module.layers.Conv2D(6, 3, activation="relu", data_format=data_format),
            module.layers.AveragePooling2D(2, data_format=data_format),
            module.layers.Flatten(),
            module.layers.Dense(3, activation="softmax"),
        ]
    )


def _cnn_data(n=64, data_format="channels_last"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 2)).astype(np.float32)
    classes = (x[:, :4, :4, 0].sum((1, 2)) > 0).astype(int) + (x[:, 4:, 4:, 1].sum((1, 2)) > 0)
    y = np.eye(3, dtype=np.float32)[classes]
    return (x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)), y


@pytest.mark.slow
@pytest.mark.keras
def test_compiled_predictions_match_keras():
    keras = pytest.importorskip("keras")
    inputs = keras.Input((9, 8, 3))
    reference = keras.Sequential(
        [
            inputs,
            keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            keras.layers.Conv2DTranspose(3, 3, strides=2, activation="tanh"),
            keras.layers.SeparableConv2D(4, 3, data_format="channels_first"),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )
    model = kgraph.Sequential(
        [
            kgraph.Input((9, 8, 3)),
            layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            layers.Conv2DTranspose(3, 3, strides=2, activation="tanh"),
            layers.SeparableConv2D(4, 3, data_format="channels_first"),
            layers.GlobalAveragePooling2D(),
        ]
    )
    model.set_weights(reference.get_weights())
    x = np.random.default_rng(0).normal(size=(10, 9, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(
        model.predict(x, batch_size=4, verbose=0), reference.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


@pytest.mark.slow
@pytest.mark.keras
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_two_epochs_of_cnn_training_match_keras(data_format):
    keras = pytest.importorskip("keras")
    x, y = _cnn_data(data_format=data_format)
    _assert_trains_as_keras(keras, _small_cnn(keras, data_format), _small_cnn(kgraph, data_format), x, y)


def _assert_trains_as_keras(keras, reference, model, x, y):
    """Two epochs of Adam without shuffling from the same weights: the same losses, accuracies and weights."""
    model.set_weights(reference.get_weights())
    for m, module in ((reference, keras), (model, kgraph)):
        m.compile(
            optimizer=module.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"]
        )
    expected = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    got = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-3)
    np.testing.assert_allclose(got["accuracy"], expected["accuracy"], rtol=1e-3)
    for got_w, want_w in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got_w, want_w, rtol=1e-3, atol=1e-5)


def _cropping_cnn(module):
    """Pools that drop trailing rows and columns: 9 -> conv 7 -> max pool reads 6; conv 'same' 3 -> average
    pool reads 2 (the crop then cuts into the convolution's own padding)."""
    return module.Sequential(
        [
            module.Input((9, 9, 2)),
            module.layers.Conv2D(4, 3, activation="relu"),
            module.layers.MaxPooling2D(),
            module.layers.Conv2D(6, 2, padding="same", activation="tanh"),
            module.layers.AveragePooling2D(2),
            module.layers.Flatten(),
            module.layers.Dense(3, activation="softmax"),
        ]
    )


def test_convolutions_compute_only_what_their_pools_read():
    from kgraph.models.programs import predict_graph

    graph = simplify(predict_graph(_cropping_cnn(kgraph), [(None, 9, 9, 2)]))
    patches = [n for n in graph.nodes() if n.op == "patches"]
    assert [n.type.shape[1:3] for n in patches] == [(6, 6), (2, 2)], graph
    assert [n.attrs["padding"] for n in patches] == [((0, -1), (0, -1)), ((0, 0), (0, 0))], graph


@pytest.mark.slow
@pytest.mark.keras
def test_cropped_convolutions_train_as_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 9, 9, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 48)]
    reference, model = _cropping_cnn(keras), _cropping_cnn(kgraph)
    model.set_weights(reference.get_weights())
    got, want = model.predict(x, verbose=0), reference.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    _assert_trains_as_keras(keras, reference, model, x, y)


def _conv_forward_kernels(**kwargs):
    graph = Graph()
    layer = layers.Conv2D(8, 3, activation="relu", **kwargs)
    layer.build((None, 10, 10, 3))
    with tracing(graph):
        x = Sym(graph, graph.add("input", name="x", shape=(None, 10, 10, 3)))
        graph.outputs["y"] = layer(x).id
    fused = fuse(simplify(graph))
    return fused, fused.fusion.kernels


def test_conv_bias_relu_is_one_gemm_kernel():
    fused, kernels = _conv_forward_kernels()
    kernels = [k for k in kernels if k.kind != "view"]  # the kernel's reshape to a matrix is free
    assert [k.kind for k in kernels] == ["opaque", "gemm"], fused.fusion
    assert [fused.node(n).op for n in kernels[0].nodes] == ["patches"]
    assert [fused.node(n).op for n in kernels[1].nodes] == ["matmul", "add", "relu"], fused.fusion


def test_one_by_one_conv_needs_no_patches():
    graph = Graph()
    layer = layers.Conv2D(8, 1, activation="relu")
    layer.build((None, 5, 5, 3))
    with tracing(graph):
        x = Sym(graph, graph.add("input", name="x", shape=(None, 5, 5, 3)))
        graph.outputs["y"] = layer(x).id
    kinds = [k.kind for k in fuse(simplify(graph)).fusion.kernels]
    assert kinds == ["view", "gemm"]


def test_conv_training_step_fuses_the_bias_and_relu_into_gemms():
    model = _small_cnn(kgraph)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x, y = _cnn_data(16)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    report = model.explain_fusion()
    assert "matmul_add_relu" in report, report
    assert "max_pool_grad" in report and "patches_grad" in report, report


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: layers.Conv2D(0, 3), "filters"),
        (lambda: layers.Conv2D(4, 3, groups=3), "divisible"),
        (lambda: layers.Conv2D(4, (3, 3, 3)), "kernel_size"),
        (lambda: layers.Conv2D(4, 3, padding="causal"), "padding"),
        (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), "dilation_rate"),
        (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2), "output padding"),
        (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    ],
)
def test_invalid_arguments_name_the_layer(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_invalid_inputs_name_the_layer():
    with pytest.raises(ValueError, match="conv2d_named.*negative or zero"):
        layers.Conv2D(4, 5, name="conv2d_named")(kgraph.Input((3, 3, 2)))
    layer = layers.Conv2D(4, 3, name="conv_channels")
    layer(kgraph.Input((6, 6, 2)))
    with pytest.raises(ValueError, match='"conv_channels".*axis -1 of input shape to have value 2'):
        layer(kgraph.Input((6, 6, 3)))
    with pytest.raises(ValueError, match="groups"):
        layers.Conv2D(4, 3, groups=2)(kgraph.Input((6, 6, 3)))
    with pytest.raises(ValueError, match="expected ndim=4"):
        layers.Conv2D(4, 3)(kgraph.Input((6, 6)))


def test_functional_ops_match_the_layers():
    x = np.random.default_rng(0).normal(size=(2, 6, 5, 3)).astype(np.float32)
    layer = layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False)
    y = layer(x)
    np.testing.assert_allclose(kgraph.ops.conv(x, layer.kernel.numpy(), 2, "same"), y, rtol=1e-6)
    pooled = kgraph.ops.max_pool(x, 2)
    np.testing.assert_allclose(pooled[0, 0, 0], x[0, :2, :2].max(axis=(0, 1)), rtol=0)


@pytest.mark.slow
def test_mnist_cnn_learns_digits():
    """Keras's classic mnist_cnn architecture on scikit-learn's 8x8 digits reaches above 95% test accuracy."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    kgraph.utils.set_random_seed(0)
    model = kgraph.Sequential(
        [
            kgraph.Input((8, 8, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:split], y[:split], batch_size=32, epochs=12, verbose=0)
    _, accuracy = model.evaluate(x[split:], y[split:], verbose=0)
    assert accuracy > 0.95, accuracy

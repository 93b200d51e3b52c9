"""Pooling layers: the shared layer test, forward parity with Keras 3 (JAX), gradients routed as JAX routes
them, and pooling forward and backward as kernels of their own."""

import numpy as np
import pytest

import kgraph
from kgraph import layers, ops
from kgraph.ir import Graph, Sym, tracing
from kgraph.passes.autodiff import gradients
from kgraph.passes.fuse import fuse
from kgraph.passes.simplify import simplify
from kgraph.runtime.interpreter import Context, evaluate
from kgraph.testing import run_layer_test, run_traced

# (layer, arguments, input shape with batch None, output shape)
LAYER_CASES = [
    ("MaxPooling2D", {}, (None, 7, 6, 3), (None, 3, 3, 3)),
    ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (None, 7, 6, 3), (None, 4, 3, 3)),
    (
        "MaxPooling1D",
        {"pool_size": 3, "strides": 1, "data_format": "channels_first"},
        (None, 3, 7),
        (None, 3, 5),
    ),
    ("AveragePooling2D", {"pool_size": (2, 3), "padding": "same"}, (None, 7, 6, 3), (None, 4, 2, 3)),
    ("AveragePooling1D", {"pool_size": 2}, (None, 7, 3), (None, 3, 3)),
    ("GlobalAveragePooling2D", {}, (None, 5, 4, 3), (None, 3)),
    ("GlobalMaxPooling2D", {"keepdims": True}, (None, 5, 4, 3), (None, 1, 1, 3)),
    ("GlobalAveragePooling1D", {"data_format": "channels_first"}, (None, 5, 4), (None, 5)),
    ("GlobalMaxPooling1D", {}, (None, 5, 4), (None, 4)),
]


@pytest.mark.parametrize("name,kwargs,input_shape,output_shape", LAYER_CASES)
def test_layer(name, kwargs, input_shape, output_shape):
    run_layer_test(getattr(layers, name), kwargs, input_shape, output_shape)


PARITY_CASES = [
    ("MaxPooling2D", {}, (2, 7, 6, 3)),
    ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 6, 3)),
    ("MaxPooling2D", {"pool_size": (2, 3), "strides": (1, 2), "data_format": "channels_first"}, (2, 3, 7, 6)),
    ("MaxPooling1D", {"pool_size": 3, "strides": 1}, (2, 7, 3)),
    ("MaxPooling1D", {"padding": "same"}, (2, 7, 3)),
    ("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 7, 6, 3)),
    ("AveragePooling2D", {"pool_size": 2, "data_format": "channels_first"}, (2, 3, 7, 6)),
    ("AveragePooling1D", {"pool_size": 2, "padding": "same"}, (2, 7, 3)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 2}, (2, 8, 3)),
    ("GlobalAveragePooling2D", {}, (2, 7, 6, 3)),
    ("GlobalAveragePooling2D", {"data_format": "channels_first", "keepdims": True}, (2, 3, 7, 6)),
    ("GlobalMaxPooling2D", {"keepdims": True}, (2, 7, 6, 3)),
    ("GlobalAveragePooling1D", {"data_format": "channels_first"}, (2, 7, 3)),
    ("GlobalMaxPooling1D", {}, (2, 7, 3)),
]


@pytest.mark.keras
@pytest.mark.parametrize("name,kwargs,input_shape", PARITY_CASES)
def test_same_outputs_and_config_as_keras(name, kwargs, input_shape):
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=input_shape).astype(np.float32)
    reference = getattr(keras.layers, name)(**kwargs)
    layer = getattr(layers, name)(**kwargs)
    np.testing.assert_allclose(layer(x), np.asarray(reference(x)), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, *input_shape[1:])) == reference.compute_output_shape(
        (None, *input_shape[1:])
    )
    assert set(layer.get_config()) == set(reference.get_config())


@pytest.mark.keras
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_average_pooling_1d_averages_the_steps_a_mask_keeps_as_keras(data_format):
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], bool)
    if data_format == "channels_first":
        x, mask = x[:, :4, :], mask[:, :4]
    layer = layers.GlobalAveragePooling1D(data_format=data_format)
    expected = np.asarray(keras.layers.GlobalAveragePooling1D(data_format=data_format)(x, mask=mask))
    np.testing.assert_allclose(layer(x, mask=mask), expected, rtol=1e-5, atol=1e-6)
    compiled = run_traced(lambda v, m: layer(v, mask=m), x, mask.astype(np.float32), backend="cpu")
    np.testing.assert_allclose(compiled, expected, rtol=1e-5, atol=1e-6)
    # Behind an Embedding(mask_zero=True), the mask flows into the pooling as in Keras.
    tokens = np.array([[3, 1, 0, 0], [2, 2, 5, 0]], np.float32)
    models = [
        lib.Sequential(
            [lib.Input((4,)), lib.layers.Embedding(6, 3, mask_zero=True), lib.layers.GlobalAveragePooling1D()]
        )
        for lib in (keras, kgraph)
    ]
    models[1].set_weights(models[0].get_weights())
    np.testing.assert_allclose(
        models[1].predict(tokens, verbose=0), models[0].predict(tokens, verbose=0), rtol=1e-5
    )


@pytest.mark.keras
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_gradients_match_jax(mode, padding):
    jax = pytest.importorskip("jax")
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype(np.float32)
    x[0, :2, :2, 0] = 5.0  # a tie: the whole gradient goes to the window's first maximum, as in JAX
    reference = keras.ops.max_pool if mode == "max" else keras.ops.average_pool
    weights = np.random.default_rng(1).normal(size=reference(x, 3, 2, padding).shape[1:]).astype(np.float32)
    expected = jax.grad(lambda v: (reference(v, 3, 2, padding) * weights).sum())(x)
    pool = ops.max_pool if mode == "max" else ops.average_pool

    def gradient(value):
        loss = ops.sum(pool(value, 3, 2, padding) * weights)
        return Sym(value.graph, gradients(value.graph, loss.id, [value.id])[value.id])

    for backend in ("numpy", "cpu"):
        got = run_traced(gradient, x, backend=backend)
        np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-5, atol=1e-6, err_msg=backend)


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.zeros((1, 2, 2, 1), np.float32)
    graph = Graph()
    with tracing(graph):
        v = Sym(graph, graph.add("variable", key="v", shape=(1, 2, 2, 1)))
        target = ops.sum(ops.max_pool(v, 2))
    (grad,) = gradients(graph, target.id, [v.id]).values()
    values = evaluate(graph, Context(variables={"v": x}, batch_size=1), [grad])
    np.testing.assert_array_equal(values[grad].ravel(), [1, 0, 0, 0])


def test_pooling_forward_and_backward_are_one_kernel_each():
    graph = Graph()
    with tracing(graph):
        v = Sym(graph, graph.add("variable", key="v", shape=(4, 8, 8, 3)))
        target = ops.sum(ops.max_pool(v, 2) * 2.0 + ops.average_pool(v, 2))
    graph.outputs["loss"] = target.id
    graph.outputs["grad"] = gradients(graph, target.id, [v.id])[v.id]
    fused = fuse(simplify(graph))
    pooling = [k for k in fused.fusion.kernels if k.kind == "opaque"]
    assert sorted(fused.node(k.nodes[0]).op for k in pooling) == [
        "avg_pool",
        "avg_pool_grad",
        "max_pool",
        "max_pool_grad",
    ], fused.fusion


def test_invalid_pooling_names_the_layer():
    with pytest.raises(ValueError, match="max_pool_named.*negative or zero"):
        layers.MaxPooling2D(4, name="max_pool_named").compute_output_shape((None, 3, 3, 2))
    with pytest.raises(ValueError, match="padding"):
        layers.MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match="pool_size"):
        layers.AveragePooling2D((2, 2, 2))

"""Normalization and noise layers: the shared layer test, gradients, parity with Keras 3 (JAX), training
parity of a Dense + BatchNormalization model, and the kernels BatchNormalization compiles to."""

import numpy as np
import pytest

import kgraph
from kgraph import layers
from kgraph.testing import run_layer_test, run_traced
from tests.layers.checks import assert_matches_keras, check_layer_gradients

RNG = np.random.default_rng(0)


def _data(*shape, scale=2.0, shift=1.0):
    return (RNG.normal(size=shape) * scale + shift).astype(np.float32)


# --- BatchNormalization -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,shape",
    [
        ({}, (None, 4)),
        ({"axis": 1}, (None, 3, 4, 2)),
        ({"center": False, "scale": False}, (None, 5, 3)),
    ],
)
def test_batch_normalization_layer_test(kwargs, shape):
    trainable = 2 - (not kwargs.get("center", True)) - (not kwargs.get("scale", True))
    run_layer_test(
        layers.BatchNormalization,
        kwargs,
        shape,
        shape,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=2,
        call_kwargs={"training": True},
        run_training_check=trainable > 0,
    )


def test_batch_normalization_weights_are_kerass():
    layer = layers.BatchNormalization()
    layer.build((None, 3))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(3, np.float32))


def test_batch_normalization_inference_uses_moving_statistics():
    layer = layers.BatchNormalization(epsilon=0.0)
    x = _data(8, 3)
    layer(x)
    layer.set_weights([np.full(3, 2.0), np.full(3, 0.5), np.full(3, 1.0), np.full(3, 4.0)])
    np.testing.assert_allclose(layer(x), (x - 1.0) / 2.0 * 2.0 + 0.5, rtol=1e-6)
    np.testing.assert_allclose(layer(x, training=False), layer(x), rtol=0)


def test_batch_normalization_training_updates_moving_statistics_with_biased_variance():
    layer = layers.BatchNormalization(momentum=0.9)
    x = _data(16, 3)
    y = layer(x, training=True)
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)
    mean, variance = layer.get_weights()[2:]
    np.testing.assert_allclose(mean, 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(variance, 0.9 + 0.1 * x.var(0), rtol=1e-5)


def test_frozen_batch_normalization_runs_in_inference_mode():
    layer = layers.BatchNormalization()
    x = _data(8, 3)
    layer(x)
    layer.trainable = False
    np.testing.assert_allclose(layer(x, training=True), layer(x), rtol=0)
    np.testing.assert_array_equal(layer.get_weights()[2], np.zeros(3, np.float32))


def test_batch_normalization_moving_statistics_update_inside_the_compiled_step():
    layer = layers.BatchNormalization(momentum=0.5)
    x = _data(12, 4)
    run_traced(lambda t: layer(t, training=True), x, backend="cpu", batch_size=6)
    mean = np.zeros(4)
    for batch in (x[:6], x[6:]):
        mean = 0.5 * mean + 0.5 * batch.mean(0)
    np.testing.assert_allclose(layer.get_weights()[2], mean, rtol=1e-5)


@pytest.mark.parametrize("training", [False, True])
def test_batch_normalization_gradients(training):
    layer = layers.BatchNormalization(axis=1, gamma_initializer="random_normal", beta_initializer="ones")
    x = _data(4, 3, 2)
    layer(x)
    assert check_layer_gradients(layer, x, {"training": training}) == 3


def test_batch_normalization_errors_name_the_layer():
    with pytest.raises(ValueError, match="Axis 3 is out of bounds.*bn_bad"):
        layers.BatchNormalization(axis=3, name="bn_bad")(layers.Input((4,)))
    with pytest.raises(ValueError, match="renorm"):
        layers.BatchNormalization(renorm=True)


# --- LayerNormalization -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,shape,trainable",
    [
        ({}, (None, 6), 2),
        ({"axis": [1, 2]}, (None, 3, 4, 2), 2),
        ({"axis": 1, "center": False}, (None, 4, 3), 1),
    ],
)
def test_layer_normalization_layer_test(kwargs, shape, trainable):
    run_layer_test(layers.LayerNormalization, kwargs, shape, shape, expected_num_trainable_weights=trainable)


def test_layer_normalization_gradients():
    layer = layers.LayerNormalization(axis=[1, 2], gamma_initializer="random_normal")
    x = _data(2, 3, 2)
    layer(x)
    assert check_layer_gradients(layer, x) == 3


# --- noise layers -----------------------------------------------------------------------------------------
def test_spatial_dropout_drops_whole_channels():
    run_layer_test(layers.SpatialDropout1D, {"rate": 0.5}, (None, 4, 3), (None, 4, 3))
    run_layer_test(layers.SpatialDropout2D, {"rate": 0.5}, (None, 3, 3, 2), (None, 3, 3, 2))
    x = np.ones((200, 5, 8), np.float32)
    for layer in (layers.SpatialDropout1D(0.25), layers.SpatialDropout2D(0.25, data_format="channels_first")):
        data = x if isinstance(layer, layers.SpatialDropout1D) else x.reshape(200, 8, 5, 1)
        y = run_traced(lambda t, layer=layer: layer(t, training=True), data, backend="cpu")
        per_map = y.reshape(200, 5, 8) if data is x else y.reshape(200, 8, 5).transpose(0, 2, 1)
        assert (per_map == per_map[:, :1, :]).all(), "a feature map is dropped or kept whole"
        assert 0.65 < (per_map[:, 0] != 0).mean() < 0.85
        np.testing.assert_allclose(per_map[per_map != 0], 1 / 0.75, rtol=1e-6)
        np.testing.assert_array_equal(layer(data), data)


def test_gaussian_noise_and_dropout_statistics():
    run_layer_test(layers.GaussianNoise, {"stddev": 0.3}, (None, 5), (None, 5))
    run_layer_test(layers.GaussianDropout, {"rate": 0.2}, (None, 5), (None, 5))
    x = np.ones((400, 50), np.float32)
    noise = run_traced(lambda t: layers.GaussianNoise(0.5)(t, training=True), x, backend="cpu") - 1.0
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 0.5) < 0.02
    scale = run_traced(lambda t: layers.GaussianDropout(0.5)(t, training=True), x, backend="cpu")
    assert abs(scale.mean() - 1.0) < 0.02 and abs(scale.std() - 1.0) < 0.03
    np.testing.assert_array_equal(layers.GaussianNoise(0.5)(x), x)


def test_noise_arguments_are_checked():
    with pytest.raises(ValueError, match="stddev"):
        layers.GaussianNoise(1.5)
    with pytest.raises(ValueError, match="rate"):
        layers.GaussianDropout(-0.1)
    with pytest.raises(ValueError, match="data_format"):
        layers.SpatialDropout2D(0.1, data_format="channels_middle")


# --- compiled kernels -------------------------------------------------------------------------------------
def _dense_bn(with_bn=True):
    stack = [layers.Input((12,)), layers.Dense(16, use_bias=not with_bn, name="dense")]
    stack += [layers.BatchNormalization(name="bn")] if with_bn else []
    model = kgraph.Sequential([*stack, layers.Activation("relu", name="relu"), layers.Dense(4, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    x, y = _data(32, 12), _data(32, 4)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.predict(x, verbose=0)
    return model


def _kernels(model, kind):
    return next(p.graph.fusion.kernels for (k, *_), p in model._programs.items() if k == kind)


def test_dense_batchnorm_inference_is_one_gemm_kernel():
    kernels = _kernels(_dense_bn(), "predict")
    first = kernels[0]
    assert first.kind == "gemm" and {"dense", "bn", "relu"} <= set(first.origins), first
    assert len(kernels) == 2, kernels


def test_conv2d_batchnorm_inference_is_one_gemm_kernel():
    if not hasattr(layers, "Conv2D"):
        pytest.skip("Conv2D is not available")
    model = kgraph.Sequential(
        [
            layers.Input((6, 6, 3)),
            layers.Conv2D(4, 3, name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.Activation("relu", name="relu"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    model.predict(_data(4, 6, 6, 3), verbose=0)
    gemms = [k for k in _kernels(model, "predict") if k.kind == "gemm"]
    assert len(gemms) == 1 and {"conv", "bn", "relu"} <= set(gemms[0].origins), gemms
    assert not [k for k in _kernels(model, "predict") if "bn" in k.origins and k.kind != "gemm"]


def test_layer_normalization_fuses_into_the_gemm_epilogues():
    stack = [layers.Input((12,)), layers.Dense(16), layers.LayerNormalization(name="ln"), layers.Dense(4)]
    model = kgraph.Sequential(stack)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(_data(16, 12), _data(16, 4), batch_size=16, verbose=0)
    model.predict(_data(16, 12), verbose=0)
    kernels = _kernels(model, "predict")
    assert [k.kind for k in kernels] == ["gemm", "gemm"] and "ln" in kernels[0].origins, kernels
    assert all(k.kind == "gemm" or "ln" not in k.origins for k in _kernels(model, "train"))


def test_batchnorm_training_forward_and_backward_are_few_loop_kernels():
    with_bn, without = _kernels(_dense_bn(), "train"), _kernels(_dense_bn(False), "train")
    bn_only = [k for k in with_bn if set(k.origins) <= {"bn", "bn/grad"}]
    assert all(k.kind == "loop" for k in bn_only), bn_only
    # Forward: the mean in the GEMM epilogue, a loop for the variance, one normalizing; backward: one loop.
    assert len(with_bn) - len(without) <= 3, (len(with_bn), len(without))


# --- parity with Keras 3 ----------------------------------------------------------------------------------
BN_CASES = [
    ({}, (6, 5)),
    ({"momentum": 0.8, "epsilon": 1e-2}, (4, 3, 5)),
    ({"axis": 1}, (3, 4, 2, 2)),
    ({"center": False, "scale": False}, (6, 4)),
    ({"gamma_initializer": "random_normal", "beta_initializer": "random_uniform"}, (5, 3, 3, 2)),
]


@pytest.mark.keras
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("kwargs,shape", BN_CASES)
def test_batch_normalization_matches_keras(kwargs, shape, training):
    keras = pytest.importorskip("keras")
    x = _data(*shape)
    reference = keras.layers.BatchNormalization(**kwargs)
    reference.build(shape)
    # Moving statistics away from their initial values, so that inference mode shows it uses them.
    count = len(reference.get_weights())
    stats = [RNG.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in reference.get_weights()]
    reference.set_weights(stats[: count - 2] + [stats[-2] - 1.0, stats[-1]])
    layer = layers.BatchNormalization(**kwargs)
    assert_matches_keras(layer, reference, x, training=training)
    for ours, theirs in zip(layer.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.keras
def test_masked_batch_normalization_matches_keras():
    keras = pytest.importorskip("keras")
    x = _data(4, 5, 3)
    mask = RNG.uniform(size=(4, 5)) > 0.3
    reference, layer = keras.layers.BatchNormalization(momentum=0.5), layers.BatchNormalization(momentum=0.5)
    expected = np.asarray(reference(x, training=True, mask=mask))
    np.testing.assert_allclose(
        layer(x, training=True, mask=mask.astype(np.float32)), expected, rtol=1e-4, atol=1e-5
    )
    for ours, theirs in zip(layer.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    traced = run_traced(
        lambda t, m: layer(t, training=True, mask=m), x, mask.astype(np.float32), backend="cpu"
    )
    np.testing.assert_allclose(traced, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.keras
@pytest.mark.parametrize(
    "kwargs,shape",
    [
        ({}, (4, 6)),
        ({"axis": [1, 2], "epsilon": 1e-5}, (3, 4, 2, 3)),
        ({"axis": 1, "center": False}, (3, 5, 2)),
        ({"scale": False}, (3, 2, 4)),
        ({"rms_scaling": True}, (3, 5)),
    ],
)
def test_layer_normalization_matches_keras(kwargs, shape):
    keras = pytest.importorskip("keras")
    with pytest.warns(UserWarning) if kwargs.get("rms_scaling") else _no_warning():
        reference = keras.layers.LayerNormalization(**kwargs)
        layer = layers.LayerNormalization(**kwargs)
    reference.build(shape)
    reference.set_weights([RNG.normal(size=w.shape).astype(np.float32) for w in reference.get_weights()])
    assert_matches_keras(layer, reference, _data(*shape))


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


@pytest.mark.keras
@pytest.mark.parametrize("name", ["GaussianNoise", "GaussianDropout", "SpatialDropout1D", "SpatialDropout2D"])
def test_noise_layers_match_keras_at_inference_and_config(name):
    keras = pytest.importorskip("keras")
    arg = {"GaussianNoise": {"stddev": 0.2}}.get(name, {"rate": 0.3})
    shape = (3, 4, 5, 2) if name.endswith("2D") else (3, 4, 5)
    assert_matches_keras(getattr(layers, name)(**arg), getattr(keras.layers, name)(**arg), _data(*shape))
    ours, theirs = getattr(layers, name)(**arg).get_config(), getattr(keras.layers, name)(**arg).get_config()
    assert set(ours) - {"dtype"} == set(theirs) - {"dtype"}


def _dense_bn_model(module, bn_kwargs):
    L = module.layers
    return module.Sequential(
        [
            module.Input((10,)),
            L.BatchNormalization(**bn_kwargs),
            L.Dense(16, activation="relu"),
            L.Dense(8, use_bias=False),
            L.BatchNormalization(**bn_kwargs),
            L.Activation("relu"),
            L.Dense(3, activation="softmax"),
        ]
    )


@pytest.mark.keras
def test_dense_batchnorm_training_matches_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(96, 10)) * 3 + 2).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[(x[:, :3]).argmax(1)]
    bn = {"momentum": 0.9}
    reference, model = _dense_bn_model(keras, bn), _dense_bn_model(kgraph, bn)
    model.set_weights(reference.get_weights())
    for m, module in ((reference, keras), (model, kgraph)):
        m.compile(optimizer=module.optimizers.Adam(0.01), loss="categorical_crossentropy")
    expected = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    got = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-3)
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-4)

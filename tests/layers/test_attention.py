"""Attention: config, shapes, eager and compiled against Keras 3 for every score mode and call option,
gradients by finite differences, masks from an Embedding, training parity with Keras, saving, errors."""

import numpy as np
import pytest

import kgraph
from kgraph import layers
from kgraph.testing import run_traced
from tests.layers.checks import check_layer_gradients

RNG = np.random.default_rng(0)
QUERY = RNG.normal(size=(3, 4, 5)).astype(np.float32)
VALUE = RNG.normal(size=(3, 6, 5)).astype(np.float32)
KEY = RNG.normal(size=(3, 6, 5)).astype(np.float32)
QUERY_MASK = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], bool)
VALUE_MASK = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
OPTIONS = [{}, {"use_scale": True}, {"score_mode": "concat"}, {"score_mode": "concat", "use_scale": True}]
CALLS = [
    {},
    {"use_causal_mask": True},
    {"mask": [QUERY_MASK, VALUE_MASK]},
    {"mask": [QUERY_MASK, VALUE_MASK], "use_causal_mask": True, "return_attention_scores": True},
]


def test_config_weights_and_symbolic_shapes():
    layer = layers.Attention(use_scale=True, score_mode="concat", dropout=0.1)
    clone = layers.Attention.from_config(layer.get_config())
    assert {k: v for k, v in clone.get_config().items() if k != "name"} == {
        k: v for k, v in layer.get_config().items() if k != "name"
    }
    query, value = kgraph.Input((4, 5)), kgraph.Input((6, 5))
    assert tuple(layer([query, value]).shape) == (None, 4, 5)
    assert [w.name for w in layer.trainable_weights] == ["scale", "concat_score_weight"]
    outputs, scores = layers.Attention()([query, value], return_attention_scores=True)
    assert (tuple(outputs.shape), tuple(scores.shape)) == ((None, 4, 5), (None, 4, 6))


def _masked_call(layer, count: int, call: dict):
    """The layer called on `count` inputs followed by their masks, if `call` has masks."""
    options = {k: v for k, v in call.items() if k != "mask"}

    def fn(*arrays):
        return layer(list(arrays[:count]), mask=list(arrays[count:]) or None, **options)

    return fn


@pytest.mark.keras
@pytest.mark.parametrize("options", OPTIONS)
def test_matches_keras_eager_and_compiled(options):
    keras = pytest.importorskip("keras")
    ours, theirs = layers.Attention(**options), keras.layers.Attention(**options)
    for call in CALLS:
        for inputs in ([QUERY, VALUE], [QUERY, VALUE, KEY]):
            expected = theirs(inputs, **call)
            if not ours.built:
                ours(inputs)
                theirs.set_weights([np.full((), 0.7 + i, np.float32) for i, _ in enumerate(theirs.weights)])
                ours.set_weights(theirs.get_weights())
                expected = theirs(inputs, **call)
            expected = expected if isinstance(expected, tuple) else (expected,)
            eager = ours(inputs, **call)
            eager = eager if isinstance(eager, list) else [eager]
            masks = [m.astype(np.float32) for m in call.get("mask", [])]
            compiled = run_traced(_masked_call(ours, len(inputs), call), *inputs, *masks, backend="cpu")
            compiled = compiled if isinstance(compiled, tuple) else (compiled,)
            for want, got_eager, got_compiled in zip(expected, eager, compiled, strict=True):
                np.testing.assert_allclose(got_eager, want, rtol=1e-5, atol=1e-6, err_msg=f"eager {call}")
                np.testing.assert_allclose(
                    got_compiled, want, rtol=1e-5, atol=1e-6, err_msg=f"compiled {call}"
                )


@pytest.mark.parametrize("options", [{"use_scale": True}, {"score_mode": "concat", "use_scale": True}])
def test_gradients_match_finite_differences(options):
    layer = layers.Attention(**options)
    layer([QUERY[:2, :3], VALUE[:2, :4], KEY[:2, :4]])
    layer.set_weights([np.full((), 0.8, np.float32)] * len(layer.weights))
    check_layer_gradients(layer, [QUERY[:2, :3], VALUE[:2, :4], KEY[:2, :4]], {"use_causal_mask": True})


def _masked_attention_model(lib):
    tokens = lib.Input((6,))
    embedded = lib.layers.Embedding(12, 4, mask_zero=True)(tokens)
    attended = lib.layers.Attention(use_scale=True)([embedded, embedded])
    pooled = lib.layers.GlobalAveragePooling1D()(attended)
    return lib.Model(tokens, lib.layers.Dense(1)(pooled))


@pytest.mark.keras
def test_a_masked_self_attention_model_trains_as_in_keras():
    keras = pytest.importorskip("keras")
    tokens = RNG.integers(1, 12, size=(32, 6)).astype(np.float32)
    tokens[:, 4:] *= RNG.integers(0, 2, size=(32, 2))  # padded tails: the masks matter
    target = RNG.normal(size=(32, 1)).astype(np.float32)
    reference, model = _masked_attention_model(keras), _masked_attention_model(kgraph)
    model.set_weights(reference.get_weights())
    np.testing.assert_allclose(
        model.predict(tokens, verbose=0), reference.predict(tokens, verbose=0), rtol=1e-5
    )
    for m, lib in ((reference, keras), (model, kgraph)):
        m.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    expected = reference.fit(tokens, target, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    got = model.fit(tokens, target, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-3)
    for got_w, want_w in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got_w, want_w, rtol=1e-3, atol=1e-5)


@pytest.mark.keras
def test_saved_models_load_in_keras_and_back(tmp_path):
    keras = pytest.importorskip("keras")
    tokens = RNG.integers(0, 12, size=(8, 6)).astype(np.float32)
    model = _masked_attention_model(kgraph)
    model.save(tmp_path / "attention.keras")
    loaded = keras.models.load_model(tmp_path / "attention.keras")
    np.testing.assert_allclose(loaded.predict(tokens, verbose=0), model.predict(tokens, verbose=0), rtol=1e-5)
    loaded.save(tmp_path / "back.keras")
    back = kgraph.models.load_model(tmp_path / "back.keras")
    np.testing.assert_allclose(back.predict(tokens, verbose=0), model.predict(tokens, verbose=0), rtol=1e-5)


def test_dropout_drops_weights_in_training_only():
    layer = layers.Attention(dropout=0.5)
    inference = layer([QUERY, VALUE])
    np.testing.assert_allclose(layer([QUERY, VALUE], training=False), inference)
    _, weights = run_traced(
        lambda q, v: layer([q, v], training=True, return_attention_scores=True), QUERY, VALUE, backend="cpu"
    )
    assert 0.3 < np.mean(weights == 0.0) < 0.7


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="add")
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Attention()(QUERY)
    with pytest.raises(ValueError, match="length 2 or 3"):
        layers.Attention()([QUERY])
    with pytest.raises(ValueError, match="mask must be a list"):
        layers.Attention()([QUERY, VALUE], mask=QUERY_MASK)

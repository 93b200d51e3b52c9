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
            for want, got in zip(expected, eager, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"eager {call}")
            # Compiled too (a cold compile costs seconds): two cases for the options with a scale.
            if options.get("use_scale") and (call is CALLS[0]) == (len(inputs) == 2):
                masks = [m.astype(np.float32) for m in call.get("mask", [])]
                compiled = run_traced(_masked_call(ours, len(inputs), call), *inputs, *masks, backend="cpu")
                compiled = compiled if isinstance(compiled, tuple) else (compiled,)
                for want, got in zip(expected, compiled, strict=True):
                    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"compiled {call}")


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
    keras.utils.set_random_seed(0)  # the same weights and data whatever ran before
    rng = np.random.default_rng(1)
    tokens = rng.integers(1, 12, size=(32, 6)).astype(np.float32)
    tokens[:, 4:] *= rng.integers(0, 2, size=(32, 2))  # padded tails: the masks matter
    target = rng.normal(size=(32, 1)).astype(np.float32)
    _assert_trains_as_in_keras(
        _masked_attention_model(keras), _masked_attention_model(kgraph), tokens, target, "mse"
    )


def _assert_trains_as_in_keras(reference, model, x, y, loss):
    """With Keras's weights, the same predictions, then two epochs of SGD give the same losses and weights."""
    keras = pytest.importorskip("keras")
    model.set_weights(reference.get_weights())
    np.testing.assert_allclose(
        model.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    for m, lib in ((reference, keras), (model, kgraph)):
        m.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss)
    expected = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    got = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(got["loss"], expected["loss"], rtol=1e-3)
    for got_w, want_w in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got_w, want_w, rtol=1e-3, atol=1e-5)


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


# --- MultiHeadAttention -----------------------------------------------------------------------------
WIDE_VALUE = RNG.normal(size=(3, 6, 7)).astype(np.float32)
ATTENTION_MASK = RNG.integers(0, 2, size=(3, 4, 6)).astype(bool)
ATTENTION_MASK[:, :, 0] = True


def _mask_arguments_call(layer, count: int, call: dict, names: list):
    """The layer called on `count` inputs followed by the masks `names` of `call`, as arrays."""
    rest = {k: v for k, v in call.items() if k not in names}

    def fn(*arrays):
        return layer(*arrays[:count], **dict(zip(names, arrays[count:], strict=True)), **rest)

    return fn


@pytest.mark.keras
@pytest.mark.parametrize(
    "options",
    [{"num_heads": 2, "key_dim": 3}, {"num_heads": 3, "key_dim": 2, "output_shape": 5, "use_bias": False}],
)
def test_multi_head_attention_matches_keras_eager_and_compiled(options):
    keras = pytest.importorskip("keras")
    calls = [
        {},
        {"use_causal_mask": True},
        {"value_mask": VALUE_MASK, "use_causal_mask": True, "return_attention_scores": True},
        {"attention_mask": ATTENTION_MASK, "return_attention_scores": True},
    ]
    for args in ((QUERY, WIDE_VALUE), (QUERY, WIDE_VALUE, KEY)):
        ours, theirs = layers.MultiHeadAttention(**options), keras.layers.MultiHeadAttention(**options)
        theirs(*args)
        ours(*args)
        ours.set_weights(theirs.get_weights())
        assert [w.path.split("/", 1)[1] for w in ours.weights] == [
            w.path.split("/", 1)[1] for w in theirs.weights
        ]
        for call in calls:
            expected = theirs(*args, **call)
            expected = expected if isinstance(expected, tuple) else (expected,)
            eager = ours(*args, **call)
            eager = eager if isinstance(eager, list) else [eager]
            for want, got in zip(expected, eager, strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"eager {call}")
            # Compiled too (a cold compile costs seconds): two cases for the first options.
            if options.get("use_bias", True) and call is calls[0 if len(args) == 2 else 2]:
                masks = {k: v.astype(np.float32) for k, v in call.items() if k == "value_mask"}
                traced = _mask_arguments_call(ours, len(args), call, list(masks))
                compiled = run_traced(traced, *args, *masks.values(), backend="cpu")
                compiled = compiled if isinstance(compiled, tuple) else (compiled,)
                for want, got in zip(expected, compiled, strict=True):
                    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"compiled {call}")


def test_multi_head_attention_gradients_match_finite_differences():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=2, bias_initializer="random_normal")
    inputs = [QUERY[:2, :3, :4], WIDE_VALUE[:2, :4, :3]]
    layer(inputs[0], inputs[1])
    check_layer_gradients(layer, inputs, {"use_causal_mask": True})


def _transformer_classifier(lib, mask_zero=False):
    """A Transformer block over token embeddings, as in Keras's text classification example."""
    tokens = lib.Input((6,))
    x = lib.layers.Embedding(12, 8, mask_zero=mask_zero)(tokens)
    attended = lib.layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = lib.layers.LayerNormalization(epsilon=1e-6)(lib.layers.Add()([x, attended]))
    feed_forward = lib.layers.Dense(8)(lib.layers.Dense(16, activation="relu")(x))
    x = lib.layers.LayerNormalization(epsilon=1e-6)(lib.layers.Add()([x, feed_forward]))
    pooled = lib.layers.GlobalAveragePooling1D()(x)
    return lib.Model(tokens, lib.layers.Dense(2, activation="softmax")(pooled))


@pytest.mark.slow
@pytest.mark.keras
def test_a_transformer_block_trains_as_in_keras_applies_masks_and_files_load_both_ways(tmp_path):
    """One model for all (a cold compile costs seconds). Keras keeps MultiHeadAttention's variables on its
    projection sublayers and records its call with the query and value as separate arguments: kgraph writes
    and reads files that way."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)  # the same weights and data whatever ran before
    rng = np.random.default_rng(2)
    tokens = rng.integers(1, 12, size=(32, 6)).astype(np.float32)
    tokens[:, 4:] *= rng.integers(0, 2, size=(32, 2))
    labels = np.eye(2, dtype=np.float32)[rng.integers(0, 2, size=32)]
    reference, model = _transformer_classifier(keras, True), _transformer_classifier(kgraph, True)
    _assert_trains_as_in_keras(reference, model, tokens, labels, "categorical_crossentropy")
    for writer, reader in ((model, keras), (reference, kgraph)):  # (legacy .h5 files load both ways too)
        path = tmp_path / f"{reader.__name__}.keras"
        writer.save(path)
        loaded = reader.models.load_model(path, compile=False)
        np.testing.assert_allclose(
            loaded.predict(tokens, verbose=0), writer.predict(tokens, verbose=0), rtol=1e-5, atol=1e-6
        )


def test_multi_head_attention_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="num_heads"):
        layers.MultiHeadAttention(num_heads=0, key_dim=2)
    with pytest.raises(NotImplementedError, match="attention_axes"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2, attention_axes=(1, 2))
    with pytest.raises(NotImplementedError, match="rank 3"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2)(QUERY[None], QUERY[None])
    with pytest.raises(ValueError, match="except the last one"):
        layers.MultiHeadAttention(num_heads=2, key_dim=2)(QUERY, VALUE, KEY[:, :5])


def test_a_loaded_model_finds_its_kernels_in_the_cache(tmp_path):
    """The generated source names the layers kernels come from: a model loaded back (same names) generates
    the same source, so its programs come from the disk cache instead of compiling again."""
    inputs = kgraph.Input((4, 5))
    model = kgraph.Model(inputs, layers.MultiHeadAttention(num_heads=1, key_dim=2)(inputs, inputs))
    model.predict(QUERY, verbose=0)
    model.save(tmp_path / "attention.keras")
    loaded = kgraph.models.load_model(tmp_path / "attention.keras")
    loaded.predict(QUERY, verbose=0)
    (program,), (loaded_program,) = model._programs.values(), loaded._programs.values()
    assert loaded_program.source == program.source

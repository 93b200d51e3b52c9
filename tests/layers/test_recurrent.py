"""Recurrent layers: the shared layer test, forward parity with Keras 3 (JAX) given the same weights, masks,
Bidirectional and TimeDistributed, training parity, the LSTM's kernel count, and tasks that need memory."""

import re

import numpy as np
import pytest

import kgraph
from kgraph.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN, TimeDistributed
from kgraph.testing import run_layer_test

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 5, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "cls,kwargs,shape,weights",
    [
        (SimpleRNN, {"units": 4}, (None, 4), 3),
        (LSTM, {"units": 4, "return_sequences": True}, (None, 5, 4), 3),
        (GRU, {"units": 4, "go_backwards": True}, (None, 4), 3),
        (GRU, {"units": 4, "reset_after": False, "return_sequences": True}, (None, 5, 4), 3),
        (LSTM, {"units": 2, "use_bias": False, "activation": "relu"}, (None, 2), 2),
    ],
)
def test_layer_helper(cls, kwargs, shape, weights):
    run_layer_test(cls, kwargs, (None, 5, 3), shape, expected_num_trainable_weights=weights, input_data=X)


def test_wrappers_through_layer_helper():
    run_layer_test(TimeDistributed, {"layer": Dense(2)}, (None, 5, 3), (None, 5, 2), 2, input_data=X)
    run_layer_test(
        Bidirectional, {"layer": LSTM(3, return_sequences=True)}, (None, 5, 3), (None, 5, 6), 6, input_data=X
    )


def test_unsupported_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="layer 'odd'.*activation.*'softplus'|Layer 'odd'.*softplus"):
        LSTM(3, activation="softplus", name="odd")


keras = pytest.importorskip("keras")

FORWARD = [
    ("SimpleRNN", {"return_sequences": True}),
    ("SimpleRNN", {"activation": "relu", "go_backwards": True}),
    ("LSTM", {}),
    ("LSTM", {"return_sequences": True, "return_state": True}),
    ("LSTM", {"go_backwards": True, "return_sequences": True, "recurrent_activation": "hard_sigmoid"}),
    ("LSTM", {"use_bias": False, "unit_forget_bias": False}),
    ("GRU", {"return_state": True}),
    ("GRU", {"reset_after": False, "return_sequences": True}),
    ("GRU", {"go_backwards": True, "activation": "linear"}),
]


def _pair(name, kwargs, units=4):
    reference = getattr(keras.layers, name)(units, **kwargs)
    ours = getattr(kgraph.layers, name)(units, **kwargs)
    return reference, ours


def _close(got, expected, rtol=1e-4):
    got = got if isinstance(got, list | tuple) else [got]
    expected = expected if isinstance(expected, list | tuple) else [expected]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=rtol, atol=1e-5)


@pytest.mark.parametrize("name,kwargs", FORWARD)
def test_forward_matches_keras(name, kwargs):
    reference, ours = _pair(name, kwargs)
    inputs = keras.Input((5, 3))
    kmodel = keras.Model(inputs, reference(inputs))
    x_in = kgraph.layers.Input((5, 3))
    model = kgraph.Model(x_in, ours(x_in))
    model.set_weights(kmodel.get_weights())
    _close(model.predict(X, verbose=0), kmodel.predict(X, verbose=0))


def _padded_tokens():
    tokens = RNG.integers(1, 9, size=(6, 7)).astype(np.float32)
    for row, length in enumerate([7, 5, 3, 1, 6, 4]):
        tokens[row, length:] = 0
    tokens[4, :2] = 0  # masked steps at the start too
    return tokens


@pytest.mark.parametrize(
    "name,kwargs",
    [("LSTM", {}), ("GRU", {"return_sequences": True}), ("SimpleRNN", {"go_backwards": True})],
)
def test_masks_from_embedding_match_keras(name, kwargs):
    tokens = _padded_tokens()
    models = []
    for module in (keras, kgraph):
        inputs = module.Input((7,))
        embedded = module.layers.Embedding(9, 3, mask_zero=True)(inputs)
        models.append(module.Model(inputs, getattr(module.layers, name)(4, **kwargs)(embedded)))
    models[1].set_weights(models[0].get_weights())
    _close(models[1].predict(tokens, verbose=0), models[0].predict(tokens, verbose=0))


def test_masks_pass_through_dense_and_dropout_as_in_keras():
    tokens = _padded_tokens()
    models = []
    for module in (keras, kgraph):
        inputs = module.Input((7,))
        hidden = module.layers.Embedding(9, 3, mask_zero=True)(inputs)
        hidden = module.layers.Dropout(0.5)(module.layers.Dense(5, activation="tanh")(hidden))
        models.append(module.Model(inputs, module.layers.LSTM(4)(hidden)))
    models[1].set_weights(models[0].get_weights())
    _close(models[1].predict(tokens, verbose=0), models[0].predict(tokens, verbose=0))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_matches_keras(merge_mode):
    tokens = _padded_tokens()
    models = []
    for module in (keras, kgraph):
        inputs = module.Input((7,))
        embedded = module.layers.Embedding(9, 3, mask_zero=True)(inputs)
        layer = module.layers.LSTM(3, return_sequences=merge_mode != "sum")
        outputs = module.layers.Bidirectional(layer, merge_mode=merge_mode)(embedded)
        models.append(module.Model(inputs, outputs))
    models[1].set_weights(models[0].get_weights())
    _close(models[1].predict(tokens, verbose=0), models[0].predict(tokens, verbose=0))


def test_masking_and_initial_state_match_keras():
    x = X.copy()
    x[1, 3:] = 0.0
    models = []
    for module in (keras, kgraph):
        inputs = module.Input((5, 3))
        masked = module.layers.Masking(0.0)(inputs)
        sequence, h, c = module.layers.LSTM(4, return_sequences=True, return_state=True)(masked)
        out = module.layers.GRU(4)(sequence, initial_state=[h])
        models.append(module.Model(inputs, [out, c]))
    models[1].set_weights(models[0].get_weights())
    _close(models[1].predict(x, verbose=0), models[0].predict(x, verbose=0))


def test_time_distributed_matches_keras():
    models = []
    for module in (keras, kgraph):
        inputs = module.Input((5, 3))
        hidden = module.layers.LSTM(4, return_sequences=True)(inputs)
        models.append(module.Model(inputs, module.layers.TimeDistributed(module.layers.Dense(2))(hidden)))
    models[1].set_weights(models[0].get_weights())
    _close(models[1].predict(X, verbose=0), models[0].predict(X, verbose=0))


# GRU's bias (2, 3 * units) is used row by row; without reset_after its gradient walk takes two products
@pytest.mark.parametrize("name,kwargs", [("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False})])
def test_training_matches_keras(name, kwargs):
    tokens = _padded_tokens()
    tokens = np.concatenate([tokens] * 4)
    y = (tokens[:, 0] > 4).astype(np.float32)[:, None]
    models = []
    for module in (keras, kgraph):
        inputs = module.Input((7,))
        embedded = module.layers.Embedding(9, 4, mask_zero=True)(inputs)
        hidden = getattr(module.layers, name)(5, **kwargs)(embedded)
        model = module.Model(inputs, module.layers.Dense(1, activation="sigmoid")(hidden))
        model.compile(optimizer=module.optimizers.Adam(0.01), loss="binary_crossentropy")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    expected = models[0].fit(tokens, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    got = models[1].fit(tokens, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    for g, e in zip(models[1].get_weights(), models[0].get_weights(), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-5)


def _planned_lstm_forward():
    from kgraph.ir import Graph, Sym
    from kgraph.ir.builder import tracing
    from kgraph.passes.pipeline import run_pipeline

    graph = Graph()
    layer = LSTM(8, return_sequences=True)
    with tracing(graph):
        x = Sym(graph, graph.add("input", name="x", shape=(None, 6, 3)))
        graph.outputs["y"] = layer(x).id
    return run_pipeline(graph, 4)


def test_lstm_forward_is_one_scan_kernel():
    planned = _planned_lstm_forward()
    ops = [planned.node(k.nodes[0]).op for k in planned.fusion.kernels if k.kind == "opaque"]
    assert ops.count("rnn_scan") == 1 and ops.count("rnn_outputs") == 1, ops


def test_lstm_bias_joins_the_gates_in_the_scan():
    """The input projection is a bare GEMM: the scan adds the bias to each step's gates (as Keras adds it
    after both products), so no pass over the (batch, steps, 4 * units) projection adds it first."""
    planned = _planned_lstm_forward()
    (projection,) = [k for k in planned.fusion.kernels if k.anchor is not None]
    assert [planned.node(n).op for n in projection.nodes] == ["matmul"]


def _first_token_task(n=512, steps=6, seed=0):
    """The label is the first token: the layer must remember it through the whole sequence."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 5, size=(n, steps)).astype(np.float32)
    return tokens, (tokens[:, 0] - 1).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "Bidirectional"])
def test_learns_a_task_that_needs_memory(kind):
    kgraph.utils.set_random_seed(0)
    tokens, labels = _first_token_task()
    inputs = kgraph.layers.Input((6,))
    embedded = Embedding(5, 8)(inputs)
    if kind == "Bidirectional":
        hidden = Bidirectional(LSTM(16))(embedded)
    else:
        hidden = getattr(kgraph.layers, kind)(16)(embedded)
    model = kgraph.Model(inputs, Dense(4, activation="softmax")(hidden))
    model.compile(
        optimizer=kgraph.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["acc"]
    )
    history = model.fit(tokens, labels, batch_size=32, epochs=20, verbose=0).history
    assert history["acc"][-1] > 0.95, history


@pytest.mark.slow
def test_addition_rnn_seq2seq():
    """Keras's addition_rnn example, small: 'a+b' as characters to the digits of the sum."""
    rng = np.random.default_rng(0)
    chars = "0123456789+ "
    digits = 2
    a, b = rng.integers(0, 10**digits, size=(2, 1500))

    def encode(strings, width):
        out = np.zeros((len(strings), width, len(chars)), np.float32)
        for i, s in enumerate(strings):
            for j, ch in enumerate(s.ljust(width)):
                out[i, j, chars.index(ch)] = 1
        return out

    x = encode([f"{p}+{q}" for p, q in zip(a, b, strict=True)], 2 * digits + 1)
    y = encode([str(p + q) for p, q in zip(a, b, strict=True)], digits + 1)
    model = kgraph.Sequential(
        [
            kgraph.layers.Input((2 * digits + 1, len(chars))),
            LSTM(64),
            kgraph.layers.RepeatVector(digits + 1),
            LSTM(64, return_sequences=True),
            TimeDistributed(Dense(len(chars), activation="softmax")),
        ]
    )
    model.compile(
        optimizer=kgraph.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0).history  # the example's batch size
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]


@pytest.mark.slow
def test_convolution_then_lstm_learns_where_a_motif_sits():
    """A convolution + LSTM model (Keras's imdb_cnn_lstm shape, tiny): a Conv1D finds a motif, max pooling
    shortens the sequence, the LSTM must remember whether the motif came in the first or the second half."""
    rng = np.random.default_rng(0)
    n, steps = 768, 16
    x = rng.normal(0.0, 0.3, size=(n, steps, 1)).astype(np.float32)
    labels = rng.integers(0, 2, size=n)
    starts = np.where(labels == 0, rng.integers(0, 5, size=n), rng.integers(9, 13, size=n))
    for row, start in enumerate(starts):
        x[row, start : start + 3, 0] += [2.0, -2.0, 2.0]
    kgraph.utils.set_random_seed(0)
    model = kgraph.Sequential(
        [
            kgraph.layers.Input((steps, 1)),
            kgraph.layers.Conv1D(8, 3, activation="relu", padding="same"),
            kgraph.layers.MaxPooling1D(2),
            LSTM(16),
            Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=kgraph.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["acc"]
    )
    model.fit(x[:512], labels[:512], batch_size=32, epochs=15, verbose=0)
    _, accuracy = model.evaluate(x[512:], labels[512:], verbose=0)
    assert accuracy > 0.9, accuracy


def test_masked_sequence_outputs_weight_the_loss_as_in_keras():
    """A masked sequence output (Masking -> SimpleRNN -> TimeDistributed(Dense)): its masked steps count for
    neither the loss nor the metrics, in Keras and in kgraph alike."""
    x = RNG.normal(size=(16, 5, 3)).astype(np.float32)
    x[::2, -2:] = 0.0
    y = RNG.normal(size=(16, 5, 2)).astype(np.float32)
    histories, weights = [], None
    for module in (keras, kgraph):
        inputs = module.Input((5, 3))
        hidden = module.layers.SimpleRNN(4, return_sequences=True)(module.layers.Masking(0.0)(inputs))
        model = module.Model(inputs, module.layers.TimeDistributed(module.layers.Dense(2))(hidden))
        model.compile(optimizer=module.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history)
    for name in ("loss", "mae"):
        np.testing.assert_allclose(histories[1][name], histories[0][name], rtol=1e-4, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs", [("LSTM", {"go_backwards": True})])  # one case: ~40 s cold
def test_scans_split_across_threads_match_the_reference_backend(name, kwargs, monkeypatch):
    """With two threads, a batch of 64 rows runs each walk (the scan, its gradient, the initial state's
    gradient) on two slices of the batch; two training steps and a predict match the numpy backend, masked
    steps and a trained initial state included."""
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two Numba threads")
    monkeypatch.setattr(kgraph.config, "num_threads", lambda: 2)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 6, 3)).astype(np.float32)
    x[::3, 4:] = 0.0  # masked tail steps
    context = rng.normal(size=(64, 2)).astype(np.float32)
    y = rng.normal(size=(64, 1)).astype(np.float32)
    models = []
    for backend in ("numpy", "cpu"):
        kgraph.config.set_backend(backend)
        kgraph.utils.set_random_seed(3)
        sequence, extra = kgraph.Input((6, 3)), kgraph.Input((2,))
        states = [kgraph.layers.Dense(4, activation="tanh")(extra) for _ in range(2 if name == "LSTM" else 1)]
        layer = getattr(kgraph.layers, name)(4, return_sequences=True, **kwargs)
        hidden = layer(kgraph.layers.Masking()(sequence), initial_state=states)
        output = kgraph.layers.Dense(1)(kgraph.layers.Flatten()(hidden))
        model = kgraph.Model([sequence, extra], output)
        model.compile(optimizer=kgraph.optimizers.SGD(0.1), loss="mse")
        models.append(model)
    kgraph.config.set_backend("cpu")
    models[1].set_weights(models[0].get_weights())
    for model in models:
        for _ in range(2):
            model.train_on_batch([x, context], y)
    _close(
        models[1].predict([x, context], batch_size=64, verbose=0), models[0].predict([x, context], verbose=0)
    )
    for got, expected in zip(models[1].get_weights(), models[0].get_weights(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    train = next(p for (kind, *_), p in models[1]._programs.items() if kind == "train")
    for op in ("rnn_scan", "rnn_scan_grad", "rnn_state_grad"):  # 64 rows: two slices on two threads
        assert re.search(rf"parallel=True.*\ndef k\d+_{op}\(", train.source), op
    assert train.splits_work and numba.get_num_threads() == 2


@pytest.mark.parametrize("threads", [2, 1])
def test_scans_projecting_their_inputs_match_keras(threads, monkeypatch):
    """With every projection moved into its scan (passes/projection.py, its size threshold lifted): masked
    steps, go_backwards, 11 steps (a last chunk of 3), batches of 1 and 5, on two threads and on one (the
    walk then projects every chunk itself), predict and two training steps at 5 rows give Keras's results."""
    from kgraph.passes import projection

    monkeypatch.setattr(projection, "PROJECT_MIN_MNK", 0)
    monkeypatch.setattr(kgraph.config, "num_threads", lambda: threads)
    tokens = np.concatenate([_padded_tokens(), _padded_tokens()], axis=1)[:5, :11]
    y = RNG.normal(size=(5, 4)).astype(np.float32)
    models = []
    for module in (keras, kgraph):
        inputs = module.Input((11,))
        hidden = module.layers.Embedding(9, 3, mask_zero=True)(inputs)
        hidden = module.layers.LSTM(4, return_sequences=True, go_backwards=True)(hidden)
        models.append(module.Model(inputs, module.layers.LSTM(4)(hidden)))
        models[-1].compile(optimizer=module.optimizers.SGD(0.5), loss="mse")
    models[1].set_weights(models[0].get_weights())
    _close(models[1].predict_on_batch(tokens[:1]), models[0].predict_on_batch(tokens[:1]))
    _close(models[1].predict_on_batch(tokens), models[0].predict_on_batch(tokens))
    for model in models:
        for _ in range(2):
            model.train_on_batch(tokens, y)
    _close(models[1].get_weights(), models[0].get_weights(), rtol=1e-3)
    for (kind, *_), program in models[1]._programs.items():
        assert program.source.count("chunk_ready(") == 2, kind  # both LSTMs project their inputs

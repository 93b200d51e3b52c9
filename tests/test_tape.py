"""GradientTape: the low-level training loop of Keras's overview, compiled and cached per loop body."""

import weakref

import digits
import numpy as np
import pytest

import kgraph
from kgraph import ops


def test_custom_loop_learns_digits():
    x, y, labels = digits.load()
    kgraph.utils.set_random_seed(0)
    model = digits.mlp()
    optimizer = kgraph.optimizers.Adam(learning_rate=0.01)
    loss_fn = kgraph.losses.kl_divergence
    for _ in range(8):
        for i in range(0, 1400, 64):
            inputs, targets = x[i : i + 64], y[i : i + 64]
            with kgraph.GradientTape() as tape:
                predictions = model(inputs)
                loss_value = loss_fn(targets, predictions)
            gradients = tape.gradient(loss_value, model.trainable_weights)
            optimizer.apply_gradients(zip(gradients, model.trainable_weights, strict=True))
    assert float(ops.mean(loss_value)) < 0.5
    accuracy = (model.predict(x[1400:], verbose=0).argmax(1) == labels[1400:]).mean()
    assert accuracy > 0.9


def test_custom_loop_and_fit_take_the_same_steps():
    x, y, _ = digits.load()
    x, y = x[:96], y[:96]
    kgraph.utils.set_random_seed(1)
    looped, fitted = digits.mlp(), digits.mlp()
    fitted.set_weights(looped.get_weights())
    optimizer = kgraph.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    for i in range(0, 96, 32):
        with kgraph.GradientTape() as tape:
            loss = ops.mean(kgraph.losses.categorical_crossentropy(y[i : i + 32], looped(x[i : i + 32])))
        grads = tape.gradient(loss, looped.trainable_weights)
        optimizer.apply_gradients(zip(grads, looped.trainable_weights, strict=True))
    fitted.compile(
        optimizer=kgraph.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="categorical_crossentropy"
    )
    fitted.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(looped.get_weights(), fitted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_recurrent_model_in_a_custom_loop_takes_the_steps_of_fit():
    """Recurrent layers on a tape, where the batch is known: their filled masks and states take it."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 12, size=(16, 6)).astype(np.float32)
    x[:, 4:] = 0.0  # padding: Embedding(mask_zero=True) masks the last steps
    y = rng.integers(0, 2, size=(16, 1)).astype(np.float32)

    def build():
        kgraph.utils.set_random_seed(4)
        return kgraph.Sequential(
            [
                kgraph.Input((6,)),
                kgraph.layers.Embedding(12, 4, mask_zero=True),
                kgraph.layers.LSTM(5, return_sequences=True),
                kgraph.layers.GRU(3),
                kgraph.layers.Dense(1, activation="sigmoid"),
            ]
        )

    looped, fitted = build(), build()
    optimizer = kgraph.optimizers.SGD(learning_rate=0.5)
    for i in range(0, 16, 8):
        with kgraph.GradientTape() as tape:
            loss = ops.mean(kgraph.losses.binary_crossentropy(y[i : i + 8], looped(x[i : i + 8])))
        grads = tape.gradient(loss, looped.trainable_weights)
        optimizer.apply_gradients(zip(grads, looped.trainable_weights, strict=True))
    fitted.compile(optimizer=kgraph.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
    fitted.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert not np.allclose(looped.get_weights()[1], build().get_weights()[1])
    for a, b in zip(looped.get_weights(), fitted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    noisy = kgraph.Sequential([kgraph.Input((6, 2)), kgraph.layers.SimpleRNN(3, recurrent_dropout=0.5)])
    with kgraph.GradientTape() as tape:
        loss = ops.sum(noisy(x[:8, :, None].repeat(2, axis=-1), training=True))
    assert all(np.isfinite(g).all() for g in tape.gradient(loss, noisy.trainable_weights))


def _softmax_expression(z):
    return ops.sum(ops.softmax(z) * ops.log1p(ops.square(z))) + ops.max(ops.sigmoid(z))


def _composed_expression(z):
    left, right = ops.split(ops.tile(z, (1, 2)), 2, axis=1)
    pieces = ops.logsumexp(left * 2.0, axis=-1) + ops.average(ops.gelu(right), axis=1, weights=ops.ones((4,)))
    return ops.sum(pieces * ops.elu(ops.moveaxis(z, 0, 1)[0])) + ops.sum(ops.softsign(ops.swapaxes(z, 0, 1)))


def _axis_expression(z):
    scanned = ops.cumsum(ops.flip(z, 0), axis=0) * ops.cumprod(ops.roll(z, 1, axis=1) * 0.5 + 1.0, axis=1)
    contracted = ops.tensordot(ops.tril(z, 1), ops.triu(ops.transpose(z)), axes=([1], [0]))
    stacks = ops.reshape(z, (5, 2, 2))
    pairwise = ops.matmul(stacks, ops.transpose(stacks, (0, 2, 1))) @ stacks  # stacks of matrices, pairwise
    return (
        ops.sum(scanned * ops.tanh(z))
        + ops.trace(contracted)
        + ops.sum(ops.diagonal(z, -1))
        + ops.sum(pairwise)
    )


@pytest.mark.parametrize("expression", [_softmax_expression, _composed_expression, _axis_expression])
def test_tape_gradients_match_finite_differences(expression):
    rng = np.random.default_rng(0)
    w = kgraph.Variable(rng.normal(size=(3, 4)).astype(np.float32), name="w")
    b = kgraph.Variable(rng.normal(size=(4,)).astype(np.float32), name="b")
    x = rng.normal(size=(5, 3)).astype(np.float32)

    def f(w_value, b_value):
        return expression(ops.tanh(ops.matmul(x, w_value) + b_value))

    with kgraph.GradientTape() as tape:
        value = f(w, b)
    grad_w, grad_b = tape.gradient(value, [w, b])
    np.testing.assert_allclose(float(value), f(w.numpy(), b.numpy()), rtol=1e-5)
    for variable, grad in ((w, grad_w), (b, grad_b)):
        base = variable.numpy().astype(np.float64)
        numeric = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            plus, minus = base.copy(), base.copy()
            plus[index] += 1e-3
            minus[index] -= 1e-3
            args = [(plus if v is variable else v.numpy()) for v in (w, b)]
            high = float(f(*[a.astype(np.float64) for a in args]))
            args = [(minus if v is variable else v.numpy()) for v in (w, b)]
            low = float(f(*[a.astype(np.float64) for a in args]))
            numeric[index] = (high - low) / 2e-3
        np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4)


def test_persistence_and_unconnected_sources():
    w = kgraph.Variable(np.ones((2,), np.float32))
    unused = kgraph.Variable(np.ones((3,), np.float32))
    with kgraph.GradientTape() as tape:
        loss = ops.sum(ops.square(w))
    np.testing.assert_allclose(tape.gradient(loss, w), [2.0, 2.0])
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(loss, w)
    with kgraph.GradientTape(persistent=True) as tape:
        loss = ops.sum(ops.square(w) * 3.0)
        other = ops.sum(w * 5.0)
    assert tape.gradient(loss, [w, unused])[1] is None
    np.testing.assert_allclose(tape.gradient(loss, [unused], unconnected_gradients="zero")[0], np.zeros(3))
    np.testing.assert_allclose(tape.gradient(other, w), [5.0, 5.0])
    assert float(loss) == 6.0 and float(other) == 10.0  # each target's value, after both gradient calls


def test_watched_inputs_output_gradients_and_jacobian():
    x = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    w = kgraph.Variable(np.array([0.5, -2.0], np.float32))
    with kgraph.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = ops.square(x) * w  # (2, 2)
    np.testing.assert_allclose(tape.gradient(y, x), 2 * x * w.numpy())
    seed = np.array([[1.0, 0.0], [2.0, 3.0]], np.float32)
    np.testing.assert_allclose(tape.gradient(y, x, output_gradients=seed), 2 * x * w.numpy() * seed)
    np.testing.assert_allclose(tape.gradient(y, w), (x**2).sum(0))
    jacobian = tape.jacobian(y, w)
    assert jacobian.shape == (2, 2, 2)
    np.testing.assert_allclose(jacobian[1, 0], [9.0, 0.0])
    unwatched = np.ones((2,), np.float32)
    with kgraph.GradientTape() as tape:
        z = ops.sum(w * unwatched)
    assert tape.gradient(z, unwatched) is None


def test_replayed_loop_follows_shapes_and_paths():
    """One `with` block seen with two batch shapes and two Python paths: each gets its own program."""
    w = kgraph.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    for step in range(6):
        x = np.full((4 if step % 2 else 3, 3), step + 1.0, np.float32)
        with kgraph.GradientTape() as tape:
            value = ops.sum(w * x) if step < 4 else ops.sum(ops.square(w * x))
        grad = tape.gradient(value, w)
        expected = x.sum(0) if step < 4 else (2 * x * x * w.numpy()).sum(0)
        np.testing.assert_allclose(grad, expected, rtol=1e-6)
        np.testing.assert_allclose(
            float(value),
            float((x * w.numpy()).sum() if step < 4 else ((x * w.numpy()) ** 2).sum()),
            rtol=1e-6,
        )


def test_weights_read_after_a_skipped_model_call_keep_the_replay():
    """A penalty on a kernel after the model's call reads the trace state the skipped call left: every later
    step still replays the first one's recording, and the penalty's gradient is the kernel itself."""
    x, y, _ = digits.load()
    kgraph.utils.set_random_seed(4)
    model = digits.mlp()
    kernel = model.layers[0].kernel
    loss_fn = kgraph.losses.CategoricalCrossentropy()
    for i in range(0, 96, 32):
        with kgraph.GradientTape() as plain_tape:
            plain = loss_fn(y[i : i + 32], model(x[i : i + 32]))
        with kgraph.GradientTape() as tape:
            loss = loss_fn(y[i : i + 32], model(x[i : i + 32])) + 0.5 * ops.sum(ops.square(kernel))
        penalized = tape.gradient(loss, kernel)
        np.testing.assert_allclose(penalized - plain_tape.gradient(plain, kernel), kernel.numpy(), atol=1e-6)
        assert i == 0 or (tape._graph._recording is not None and plain_tape._graph._recording is not None)


def test_result_buffers_are_reused_only_when_nothing_holds_them():
    """Each gradient call returns its own memory: a later step reuses a step's buffer once nothing refers to
    it, and never while anything does (a slice of a gradient, a value read from the tape, the target)."""
    x, y, _ = digits.load()
    kgraph.utils.set_random_seed(5)
    model = digits.mlp()
    optimizer = kgraph.optimizers.SGD(0.1)
    loss_fn = kgraph.losses.CategoricalCrossentropy()

    def step(i):
        with kgraph.GradientTape() as tape:
            predictions = model(x[i : i + 32])
            loss = loss_fn(y[i : i + 32], predictions)
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        return grads, predictions, loss

    served = []  # weak references: they keep nothing alive
    for i in range(0, 320, 32):  # nothing kept: a few buffers serve every step
        grads, _, _ = step(i)
        if not any(ref() is grads[0] for ref in served):
            served.append(weakref.ref(grads[0]))
        del grads
    assert len(served) <= 3
    kept = []
    for i in range(0, 320, 32):  # each step keeps one thing; later steps must not write over it
        grads, predictions, loss = step(i)
        held = [grads[0][:2], predictions.numpy(), loss, grads][i // 32 % 4]
        kept.append((held, [np.array(a) for a in _arrays(held)]))
        del grads, predictions, loss
    for held, copies in kept:
        for now, copy in zip(_arrays(held), copies, strict=True):
            np.testing.assert_array_equal(now, copy)


def _arrays(held) -> list:
    return list(held) if isinstance(held, list) else [held.numpy() if hasattr(held, "numpy") else held]


def test_tape_loop_on_the_numpy_backend_takes_the_steps_of_the_cpu():
    """The reference interpreter writes a step's results into the memory the run passes, as compiled code
    does (`ProgramLayout.outside`)."""
    x, y, _ = digits.load()
    results = {}
    previous = kgraph.config.backend()
    try:
        for backend in ("cpu", "numpy"):
            kgraph.config.set_backend(backend)
            kgraph.utils.set_random_seed(6)
            model = digits.mlp()
            optimizer = kgraph.optimizers.SGD(0.1, momentum=0.9)
            losses = []
            for i in range(0, 96, 32):
                with kgraph.GradientTape() as tape:
                    predictions = model(x[i : i + 32])
                    loss = kgraph.losses.CategoricalCrossentropy()(y[i : i + 32], predictions)
                grads = tape.gradient(loss, model.trainable_weights)
                optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
                losses.append((float(loss), predictions.numpy()))
            results[backend] = (losses, model.get_weights(), grads)
    finally:
        kgraph.config.set_backend(previous)
    (cpu_losses, cpu_weights, cpu_grads), (np_losses, np_weights, np_grads) = results["cpu"], results["numpy"]
    for (a, pa), (b, pb) in zip(cpu_losses, np_losses, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5)
        np.testing.assert_allclose(pb, pa, rtol=1e-5, atol=1e-7)
    for a, b in zip([*cpu_weights, *cpu_grads], [*np_weights, *np_grads], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


def test_predictions_readable_after_the_step_and_fit_after_the_loop():
    x, y, _ = digits.load()
    kgraph.utils.set_random_seed(3)
    model = digits.mlp()
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(x[:64], y[:64], batch_size=32, verbose=0)  # the weights live in the model's store first
    optimizer = kgraph.optimizers.SGD(0.1)
    steps = []
    for i in range(0, 96, 32):
        before = model.predict(x[i : i + 32], verbose=0)
        with kgraph.GradientTape() as tape:
            predictions = model(x[i : i + 32])
            loss = kgraph.losses.CategoricalCrossentropy()(y[i : i + 32], predictions)
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        np.testing.assert_allclose(predictions.numpy(), before, rtol=1e-5, atol=1e-6)
        steps.append((predictions, before, loss, float(loss), [g.copy() for g in grads], grads))
    for predictions, before, loss, value, copies, grads in steps:  # later steps overwrite none of them
        np.testing.assert_array_equal(predictions.numpy(), np.asarray(predictions))
        np.testing.assert_allclose(predictions.numpy(), before, rtol=1e-5, atol=1e-6)
        assert float(loss) == value
        for copy, grad in zip(copies, grads, strict=True):
            np.testing.assert_array_equal(grad, copy)
    weights = model.get_weights()
    np.testing.assert_allclose(model.predict(x[:8], verbose=0), model(x[:8]), rtol=1e-6)
    model.fit(x[:32], y[:32], batch_size=32, verbose=0)  # fit continues from the loop's weights
    assert not np.allclose(model.get_weights()[0], weights[0])


def _regularized_mlp(frozen_regularized_layer=False):
    hidden = kgraph.layers.Dense(
        16, activation="relu", kernel_regularizer="l2", activity_regularizer=kgraph.regularizers.L1(0.05)
    )
    frozen = kgraph.layers.Dense(16, kernel_regularizer=kgraph.regularizers.L1(0.5))
    frozen.trainable = not frozen_regularized_layer
    head = kgraph.layers.Dense(10, activation="softmax", bias_regularizer=kgraph.regularizers.L2(0.1))
    return kgraph.Sequential([kgraph.Input((64,)), hidden, frozen, head])


def test_model_losses_in_a_custom_loop_match_fit():
    """`loss + sum(model.losses)` (Keras's custom-loop idiom) takes the same steps as fit on a model with
    weight and activity regularizers."""
    x, y, _ = digits.load()
    x, y = x[:96], y[:96]
    kgraph.utils.set_random_seed(2)
    looped, fitted = _regularized_mlp(), _regularized_mlp()
    fitted.set_weights(looped.get_weights())
    optimizer = kgraph.optimizers.SGD(learning_rate=0.05)
    for i in range(0, 96, 32):
        with kgraph.GradientTape() as tape:
            predictions = looped(x[i : i + 32], training=True)
            loss = ops.mean(kgraph.losses.categorical_crossentropy(y[i : i + 32], predictions))
            assert len(looped.losses) == 4  # the activity penalty, then three weight penalties
            loss = loss + sum(looped.losses)
        grads = tape.gradient(loss, looped.trainable_weights)
        optimizer.apply_gradients(zip(grads, looped.trainable_weights, strict=True))
    fitted.compile(optimizer=kgraph.optimizers.SGD(learning_rate=0.05), loss="categorical_crossentropy")
    fitted.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(looped.get_weights(), fitted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_model_losses_values_follow_keras():
    x, _, _ = digits.load()
    x = x[:8]
    kgraph.utils.set_random_seed(3)
    model = _regularized_mlp(frozen_regularized_layer=True)
    kernel, bias = model.layers[0].get_weights()
    head_bias = np.full(10, 0.5, np.float32)
    model.layers[2].bias.assign(head_bias)
    # Eagerly: the trainable weights' penalties only (the frozen layer's L1 does not count, as in Keras).
    np.testing.assert_allclose(
        model.losses, [0.01 * np.sum(kernel**2), 0.1 * np.sum(head_bias**2)], rtol=1e-5
    )
    with kgraph.GradientTape() as tape:
        model(x, training=True)
        total = sum(model.losses)
        activity_only = model.layers[0].losses[0]
    tape.gradient(total, model.trainable_weights)
    hidden = np.maximum(x @ kernel + bias, 0)
    activity = 0.05 * np.abs(hidden).sum() / len(x)  # Keras divides the activity penalty by the batch size
    expected = activity + 0.01 * np.sum(kernel**2) + 0.1 * np.sum(head_bias**2)
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
    assert len(model.layers[1].losses) == 0 and activity_only is not None

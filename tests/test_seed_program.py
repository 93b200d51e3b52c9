"""The seed program of the project runs as written, with only the import names changed."""

import warnings

import numpy as np


def test_seed_program_runs_unchanged():
    import kgraph as keras
    from kgraph.layers import Dense
    from kgraph.models import Sequential

    rng = np.random.default_rng(0)
    x_train = rng.random((256, 100), dtype=np.float32)
    y_train = keras.utils.to_categorical(rng.integers(0, 10, 256), 10)
    x_batch, y_batch = x_train[:32], y_train[:32]
    x_test, y_test = x_train[:64], y_train[:64]

    model = Sequential()
    model.add(Dense(units=64, activation="relu", input_dim=100))
    model.add(Dense(units=10, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.compile(
            loss=keras.losses.categorical_crossentropy,
            optimizer=keras.optimizers.SGD(lr=0.01, momentum=0.9, nesterov=True),
        )
    assert any(issubclass(w.category, DeprecationWarning) and "lr" in str(w.message) for w in caught)
    assert np.isclose(model.optimizer.learning_rate, 0.01)
    model.fit(x_train, y_train, epochs=5, batch_size=32, verbose=0)
    model.train_on_batch(x_batch, y_batch)
    loss_and_metrics = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    classes = model.predict(x_test, batch_size=128, verbose=0)
    assert np.isfinite(loss_and_metrics)
    assert classes.shape == (64, 10)
    np.testing.assert_allclose(classes.sum(axis=1), 1.0, rtol=1e-5)

"""Tiny models and data shared by the saving tests, built the same way with kgraph or Keras."""

import numpy as np

FEATURES = 4


def data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = np.stack([x[:, 0] - x[:, 1], x[:, 2] * 0.5], axis=1).astype(np.float32)
    return x, y


def two_input_data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 3)).astype(np.float32)
    b = rng.normal(size=(n, 3)).astype(np.float32)
    score = (a[:, :1] + b[:, 1:2]).astype(np.float32)
    label = np.eye(2, dtype=np.float32)[(a[:, 0] > b[:, 0]).astype(int)]
    return [a, b], {"score": score, "label": label}


def mlp(lib, name="mlp"):
    """A Sequential MLP with regularizers and dropout."""
    return lib.Sequential(
        [
            lib.Input((FEATURES,)),
            lib.layers.Dense(
                8,
                activation="relu",
                kernel_regularizer=lib.regularizers.L2(0.01),
                bias_regularizer=lib.regularizers.L1(0.001),
            ),
            lib.layers.Dropout(0.25),
            lib.layers.Dense(2),
        ],
        name=name,
    )


def two_headed(lib, name="two_headed"):
    """Two inputs, a shared layer, two named outputs (no BatchNormalization: kgraph has none yet)."""
    a = lib.Input((3,), name="a")
    b = lib.Input((3,), name="b")
    shared = lib.layers.Dense(4, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    merged = lib.layers.Concatenate(name="merged")([ha, hb])
    summed = lib.layers.Add(name="summed")([ha, hb])
    score = lib.layers.Dense(1, name="score")(merged)
    label = lib.layers.Dense(2, activation="softmax", name="label")(summed)
    return lib.Model([a, b], {"score": score, "label": label}, name=name)


def compile_mlp(model, lib):
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse", metrics=["mae"])


def compile_two_headed(model, lib):
    model.compile(
        optimizer=lib.optimizers.SGD(0.05, momentum=0.9),
        loss={"score": "mse", "label": "categorical_crossentropy"},
        loss_weights={"score": 1.0, "label": 0.5},
        metrics={"label": ["accuracy"]},
    )


def weights_by_path(model):
    """`{'layer/variable': array}`: weights compared without list order or model-name prefixes."""
    return {f"{layer.name}/{w.name}": np.asarray(w.numpy()) for layer in model.layers for w in layer.weights}

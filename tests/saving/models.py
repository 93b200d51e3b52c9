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
    """Two inputs, a shared layer, batch normalization, two named outputs."""
    a = lib.Input((3,), name="a")
    b = lib.Input((3,), name="b")
    shared = lib.layers.Dense(4, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    merged = lib.layers.BatchNormalization(name="norm")(lib.layers.Concatenate(name="merged")([ha, hb]))
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


def custom_classes(lib):
    """A custom layer holding a sublayer, and a subclassed model, defined against `lib` (Keras or kgraph)."""

    class Residual(lib.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.inner = lib.layers.Dense(units, activation="tanh")
            self.units = units

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

        def call(self, inputs):
            return inputs + self.scale * self.inner(inputs)

    class Classifier(lib.Model):
        def __init__(self):
            super().__init__()
            self.hidden = lib.layers.Dense(4, activation="relu")
            self.block = Residual(4)
            self.zhead = lib.layers.Dense(3, activation="softmax")  # sorts after `layers`, as Keras walks it

        def call(self, inputs, training=None):
            return self.zhead(self.block(self.hidden(inputs)))

    return Residual, Classifier


def h5_tree(path):
    """`{h5 path: shape or None}` of every group and dataset in a file."""
    import h5py

    found = {}

    def record(name, obj):  # returns None, so h5py keeps visiting
        found[name] = getattr(obj, "shape", None)

    with h5py.File(path) as f:
        f.visititems(record)
    return found

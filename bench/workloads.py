"""Benchmark workloads, each defined once.

Every workload has:

* ``load(quick)`` -> ``(x, y_onehot)`` float32 numpy arrays (the same data for every engine);
* ``build_keras(keras)`` -> a compiled Keras model. ``keras`` is the module passed in: the real
  ``keras`` (JAX backend) or ``kgraph`` (``import kgraph as keras``), so both engines run exactly
  the same Keras code. ``steps_per_execution`` is left to its default.
* ``build_torch(torch)`` -> a :class:`TorchModel`, the PyTorch equivalent (eager, no
  ``torch.compile``). Same layer sizes, same optimizer hyperparameters; PyTorch's default init
  (kaiming-uniform) instead of Keras' glorot-uniform. The torch model outputs logits and is
  trained with ``nn.CrossEntropyLoss`` on class indices, which is the same loss as Keras'
  softmax + categorical cross-entropy on one-hot targets; at predict time the harness applies
  ``torch.softmax`` so every engine returns probabilities.

No metrics are compiled into the models: the loss is the only thing computed per step.
Neither ``keras`` nor ``torch`` is imported here at module level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Quick mode (``--quick``): a few hundred steps at most, for checking the harness.
QUICK_STEADY_EPOCHS = 2


@dataclass
class TorchModel:
    """A torch module with its optimizer and loss (logits in, class indices as targets)."""

    module: Any
    optimizer: Any
    loss_fn: Any
    binary: bool = False  # one logit trained on 0/1 float targets (BCEWithLogitsLoss), sigmoid at predict


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    batch_size: int
    n_classes: int
    steady_epochs: int  # epochs timed after the first one (full runs)
    quick_samples: int | None  # training-set size in quick mode (None: all)
    loss_note: str
    load_fn: Callable[[int | None], tuple[np.ndarray, np.ndarray]]  # (n samples or None: all)
    build_keras: Callable[[Any], Any]
    build_torch: Callable[[Any], TorchModel]

    def load(self, quick: bool = False) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.load_fn(self.quick_samples if quick else None)
        return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32)

    def epochs(self, quick: bool = False) -> int:
        """Total epochs of the ``train`` figure: one first epoch plus the timed steady ones."""
        return 1 + (QUICK_STEADY_EPOCHS if quick else self.steady_epochs)


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((labels.shape[0], n_classes), dtype=np.float32)
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


# --------------------------------------------------------------------------- digits_mlp


def load_digits(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as _load

    data = _load()
    x = (data.data[:n] / 16.0).astype(np.float32)  # 8x8 pixels in 0..16 -> 64 features in [0, 1]
    y = one_hot(data.target[:n].astype(np.int64), 10)
    return x, y


def build_digits_keras(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="categorical_crossentropy",
    )
    return model


def build_digits_torch(torch) -> TorchModel:
    nn = torch.nn
    module = nn.Sequential(
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
    # torch SGD momentum (v = m*v + g; w -= lr*v) equals Keras' (v = m*v - lr*g; w += v) at fixed lr.
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    return TorchModel(module, optimizer, nn.CrossEntropyLoss())


# --------------------------------------------------------------------------- mnist_mlp

MNIST_SEED = 1234


def load_mnist_synthetic(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-sized random data: 60,000 x 784 float32 uniform in [0, 1), 10 classes.

    ``n`` (quick mode) generates only n samples, so that no full-size array inflates peak RSS.
    """
    n = 60_000 if n is None else n
    rng = np.random.default_rng(MNIST_SEED)
    x = rng.random((n, 784), dtype=np.float32)
    y = one_hot(rng.integers(0, 10, size=n), 10)
    return x, y


def build_mnist_keras(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy")
    return model


def build_mnist_torch(torch) -> TorchModel:
    nn = torch.nn
    module = nn.Sequential(
        nn.Linear(784, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, 10),
    )
    # Keras Adam defaults: lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7 (torch's default eps is 1e-8).
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    return TorchModel(module, optimizer, nn.CrossEntropyLoss())


# --------------------------------------------------------------------------- mnist_cnn


def load_mnist_images(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic MNIST data as 28 x 28 x 1 images (channels last)."""
    x, y = load_mnist_synthetic(n)
    return x.reshape(-1, 28, 28, 1), y


def build_cnn_keras(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy")
    return model


def build_cnn_torch(torch) -> TorchModel:
    nn = torch.nn

    class ChannelsFirst(nn.Module):
        """The shared data is channels last (N, 28, 28, 1); torch convolutions read (N, 1, 28, 28)."""

        def forward(self, x):
            return x.permute(0, 3, 1, 2)

    module = nn.Sequential(
        ChannelsFirst(),
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(5 * 5 * 64, 10),
    )
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    return TorchModel(module, optimizer, nn.CrossEntropyLoss())


# --------------------------------------------------------------------------- imdb_lstm

VOCABULARY, SEQUENCE_LENGTH = 20_000, 80


def load_token_sequences(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """IMDB-shaped synthetic data: 25,000 sequences of 80 token ids in [1, 20000), binary labels.

    The ids are float32 (every engine reads the same array; torch casts them to int64 in its model).
    """
    n = 25_000 if n is None else n
    rng = np.random.default_rng(MNIST_SEED)
    x = rng.integers(1, VOCABULARY, size=(n, SEQUENCE_LENGTH)).astype(np.float32)
    y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    return x, y


def build_lstm_keras(keras):
    model = keras.Sequential(
        [
            keras.Input(shape=(SEQUENCE_LENGTH,)),
            keras.layers.Embedding(VOCABULARY, 128),
            keras.layers.LSTM(64),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy")
    return model


def build_lstm_torch(torch) -> TorchModel:
    nn = torch.nn

    class LstmClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(VOCABULARY, 128)
            self.lstm = nn.LSTM(128, 64, batch_first=True)
            self.head = nn.Linear(64, 1)

        def forward(self, x):
            _, (h, _) = self.lstm(self.embedding(x.long()))
            return self.head(h[-1])

    module = LstmClassifier()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    return TorchModel(module, optimizer, nn.BCEWithLogitsLoss(), binary=True)


_CE_NOTE = (
    "keras/kgraph: softmax output + categorical_crossentropy on one-hot targets; "
    "torch: logits + nn.CrossEntropyLoss on class indices (same loss)"
)

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            name="digits_mlp",
            description="sklearn digits (1797 x 64), Dense 64-64-10, SGD(0.01, momentum 0.9), batch 32",
            batch_size=32,
            n_classes=10,
            steady_epochs=20,
            quick_samples=None,
            loss_note=_CE_NOTE,
            load_fn=load_digits,
            build_keras=build_digits_keras,
            build_torch=build_digits_torch,
        ),
        Workload(
            name="mnist_mlp",
            description="synthetic MNIST-size (60000 x 784), Dense 512-512-10, Adam(1e-3), batch 128",
            batch_size=128,
            n_classes=10,
            steady_epochs=3,
            quick_samples=2048,
            loss_note=_CE_NOTE,
            load_fn=load_mnist_synthetic,
            build_keras=build_mnist_keras,
            build_torch=build_mnist_torch,
        ),
        Workload(
            name="mnist_cnn",
            description="synthetic MNIST-size (60000 x 28 x 28 x 1), Conv2D 32 - MaxPool - Conv2D 64 - "
            "MaxPool - Flatten - Dense 10, Adam(1e-3), batch 128",
            batch_size=128,
            n_classes=10,
            steady_epochs=1,
            quick_samples=1024,
            loss_note=_CE_NOTE,
            load_fn=load_mnist_images,
            build_keras=build_cnn_keras,
            build_torch=build_cnn_torch,
        ),
        Workload(
            name="imdb_lstm",
            description="synthetic IMDB-size (25000 sequences of 80 ids over 20,000 tokens), Embedding 128 - "
            "LSTM 64 - Dense 1 sigmoid, Adam(1e-3), batch 64",
            batch_size=64,
            n_classes=1,
            steady_epochs=1,
            quick_samples=512,
            loss_note="keras/kgraph: sigmoid output + binary_crossentropy; torch: one logit + "
            "nn.BCEWithLogitsLoss (same loss)",
            load_fn=load_token_sequences,
            build_keras=build_lstm_keras,
            build_torch=build_lstm_torch,
        ),
    )
}


def get(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise SystemExit(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None

"""scikit-learn's digits and a small MLP, shared by the custom-loop tests."""

import numpy as np

import kgraph


def load():
    """(x scaled to [0, 1], one-hot labels, integer labels), in a fixed random order (as in the demo)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.data[order] / 16.0).astype(np.float32)
    return x, kgraph.utils.to_categorical(digits.target[order], 10).astype(np.float32), digits.target[order]


def mlp():
    return kgraph.Sequential(
        [
            kgraph.Input((64,)),
            kgraph.layers.Dense(32, activation="relu"),
            kgraph.layers.Dense(10, activation="softmax"),
        ]
    )

"""kgraph: the Keras API, compiled ahead of time to fused Numba kernels.

Example:
    >>> import kgraph as keras
    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
"""

from kgraph import (
    activations,
    backend,
    callbacks,
    config,
    constraints,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    regularizers,
    saving,
    utils,
)
from kgraph.function import function
from kgraph.layers import Input, InputLayer, Layer
from kgraph.losses import Loss
from kgraph.metrics import Metric
from kgraph.models import Model, Sequential
from kgraph.optimizers import Optimizer
from kgraph.tape import GradientTape
from kgraph.variables import Variable

__version__ = "0.1.0"

__all__ = [
    "GradientTape",
    "Input",
    "InputLayer",
    "Layer",
    "Loss",
    "Metric",
    "Model",
    "Optimizer",
    "Sequential",
    "Variable",
    "activations",
    "backend",
    "callbacks",
    "config",
    "constraints",
    "function",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "ops",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
]

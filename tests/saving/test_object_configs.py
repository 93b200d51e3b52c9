"""Every built-in class (layers, optimizers, schedules, losses, metrics, initializers, regularizers,
constraints) survives `serialize_keras_object` / `deserialize_keras_object`; Keras 3 reads the configs kgraph
writes, and kgraph reads the configs Keras writes back."""

import inspect

import pytest

from kgraph.activations import relu
from kgraph.layers import LSTM, Dense
from kgraph.saving.builtins import builtin_objects
from kgraph.saving.serialization import deserialize_keras_object, serialize_keras_object

_BASES = {"Initializer", "Optimizer", "Loss", "LossFunctionWrapper", "Metric", "MeanMetricWrapper"}
_BASES |= {"LearningRateSchedule", "Model", "Sequential"}
_ARGUMENTS = {
    "Dense": {"units": 3},
    "Dropout": {"rate": 0.5},
    "Reshape": {"target_shape": (2, 2)},
    "Activation": {"activation": "relu"},
    "Lambda": {"function": relu, "output_shape": (3,)},
    "Rescaling": {"scale": 0.5, "offset": 1.0},
    "InputLayer": {"shape": (3,)},
    "Embedding": {"input_dim": 5, "output_dim": 2},
    "SimpleRNN": {"units": 2},
    "LSTM": {"units": 2},
    "GRU": {"units": 2},
    "Bidirectional": {"layer": LSTM(2)},
    "TimeDistributed": {"layer": Dense(2)},
    "Conv1D": {"filters": 2, "kernel_size": 3},
    "Conv2D": {"filters": 2, "kernel_size": 3},
    "Conv1DTranspose": {"filters": 2, "kernel_size": 3},
    "Conv2DTranspose": {"filters": 2, "kernel_size": 3},
    "SeparableConv1D": {"filters": 2, "kernel_size": 3},
    "SeparableConv2D": {"filters": 2, "kernel_size": 3},
    "DepthwiseConv1D": {"kernel_size": 3},
    "DepthwiseConv2D": {"kernel_size": 3},
    "AveragePooling1D": {"pool_size": 2},
    "SpatialDropout1D": {"rate": 0.5},
    "SpatialDropout2D": {"rate": 0.5},
    "SpatialDropout3D": {"rate": 0.5},
    "GaussianDropout": {"rate": 0.5},
    "GaussianNoise": {"stddev": 0.1},
    "Dot": {"axes": 1},
    "Permute": {"dims": (2, 1)},
    "RepeatVector": {"n": 2},
    "MultiHeadAttention": {"num_heads": 2, "key_dim": 3},
    "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9},
    "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
    "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10},
    "PiecewiseConstantDecay": {"boundaries": [10], "values": [0.1, 0.01]},
    "CosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 10},
    "CosineDecayRestarts": {"initial_learning_rate": 0.1, "first_decay_steps": 10},
    "PrecisionAtRecall": {"recall": 0.5},
    "RecallAtPrecision": {"precision": 0.5},
    "SensitivityAtSpecificity": {"specificity": 0.5},
    "SpecificityAtSensitivity": {"sensitivity": 0.5},
}
_CLASSES = sorted(
    (module, name)
    for module, table in builtin_objects().items()
    if module not in ("keras", "keras.models")
    for name, cls in table.items()
    if inspect.isclass(cls) and name == cls.__name__ and name not in _BASES
)


def _build(module, name):
    return builtin_objects()[module][name](**_ARGUMENTS.get(name, {}))


@pytest.mark.parametrize("module, name", _CLASSES)
def test_config_round_trip(module, name):
    obj = _build(module, name)
    config = serialize_keras_object(obj)
    assert (config["module"], config["class_name"], config["registered_name"]) == (module, name, None)
    again = deserialize_keras_object(config)
    assert type(again) is type(obj)
    assert again.get_config() == obj.get_config()


@pytest.mark.keras
@pytest.mark.parametrize("module, name", _CLASSES)
def test_keras_reads_kgraph_configs_and_back(module, name):
    keras = pytest.importorskip("keras")
    obj = _build(module, name)
    theirs = keras.saving.deserialize_keras_object(serialize_keras_object(obj))
    assert type(theirs).__name__ == name
    back = deserialize_keras_object(keras.saving.serialize_keras_object(theirs))
    assert type(back) is type(obj)

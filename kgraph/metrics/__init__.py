"""`kgraph.metrics`: Keras 3's metrics, and `get`/`serialize`/`deserialize`.

A metric keeps its state in variables. `update_state` is written with `kgraph.ops` and variable assignments,
so a model traces it into its compiled training step; `result()` reads the variables eagerly. Resolving
`'accuracy'`/`'acc'` (which depends on the loss and shapes) is the model's job, not `get`'s.
"""

from __future__ import annotations

import inspect
from typing import Any

from kgraph.losses import deserialize_function, serialize_function, serialize_instance
from kgraph.losses.functions import (
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from kgraph.losses.loss import snake_case
from kgraph.metrics.accuracy_metrics import (
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)
from kgraph.metrics.auc import AUC
from kgraph.metrics.confusion import (
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from kgraph.metrics.loss_metrics import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from kgraph.metrics.metric import Metric
from kgraph.metrics.reduction import Mean, MeanMetricWrapper, Sum

_CLASSES = (
    Metric,
    Mean,
    Sum,
    MeanMetricWrapper,
    MeanSquaredError,
    RootMeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    LogCoshError,
    AUC,
    FalseNegatives,
    FalsePositives,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
)
_FUNCTIONS = (
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
    top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
    categorical_hinge,
    hinge,
    squared_hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
)

FUNCTIONS: dict[str, Any] = {fn.__name__: fn for fn in _FUNCTIONS}
"""Functions a serialized `MeanMetricWrapper` may name."""

ALL_OBJECTS: dict[str, type] = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS.update({snake_case(cls.__name__): cls for cls in _CLASSES})
ALL_OBJECTS.update(
    {
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "mape": MeanAbsolutePercentageError,
        "MAPE": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "MSLE": MeanSquaredLogarithmicError,
    }
)


def _valid_names() -> str:
    return f"Valid names are: {sorted(ALL_OBJECTS)}"


def serialize(metric) -> dict:
    """Returns a metric's Keras-format config dict (`module`, `class_name`, `config`, `registered_name`)."""
    if not isinstance(metric, Metric):
        return serialize_function(metric)
    return serialize_instance(metric, "keras.metrics", ALL_OBJECTS)


def deserialize(config: str | dict, custom_objects: dict | None = None):
    """Builds a metric from a name or a config dict made by `serialize`.

    Args:
        config: A class name (`'AUC'`, `'auc'`, `'mse'`...), or a config dict.
        custom_objects: Optional dict mapping names to custom metric classes or functions.

    Returns:
        A `Metric` instance (or a function, for a function config).

    Raises:
        ValueError: If the name is unknown; the message lists the valid names.
    """
    custom_objects = custom_objects or {}
    if isinstance(config, dict):
        if config.get("class_name") == "function":
            return deserialize_function(config, {**FUNCTIONS, **custom_objects})
        keys = (config.get("registered_name"), config.get("class_name"))
        found = next((custom_objects[k] for k in keys if k in custom_objects), None)
        found = found or ALL_OBJECTS.get(config.get("class_name"))
        if not inspect.isclass(found):
            raise ValueError(f"Could not deserialize metric config {config}. {_valid_names()}")
        return found.from_config(dict(config.get("config") or {}))
    found = custom_objects.get(config) or ALL_OBJECTS.get(config)
    if found is None:
        raise ValueError(f"Could not interpret metric identifier: {config}. {_valid_names()}")
    return found() if inspect.isclass(found) else found


def get(identifier: Any):
    """Retrieves a metric from `None`, a name, a config dict, a function, a class or an instance.

    Names resolve to new instances: `'mse'` gives `MeanSquaredError()`, `'auc'` gives `AUC()`.
    (`'accuracy'` here means `Accuracy()`, exact equality; models resolve it from their loss instead.)

    Raises:
        ValueError: If the identifier cannot be interpreted; the message lists the valid names.

    Example:

    >>> get("mse")
    <MeanSquaredError name=mean_squared_error>
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        obj = deserialize(identifier)
    elif isinstance(identifier, str):
        obj = ALL_OBJECTS.get(identifier)
    else:
        obj = identifier
    if inspect.isclass(obj):
        return obj()
    if callable(obj):
        return obj
    raise ValueError(f"Could not interpret metric identifier: {identifier}. {_valid_names()}")


__all__ = [
    *(cls.__name__ for cls in _CLASSES),
    *FUNCTIONS,
    "get",
    "serialize",
    "deserialize",
]

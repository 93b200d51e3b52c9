"""`kgraph.losses`: Keras 3's losses (functions and classes), and `get`/`serialize`/`deserialize`.

Every loss is written with `kgraph.ops`, so the same definition computes a loss eagerly on arrays and adds
it to a traced training step. Functions return per-sample values; classes weight and reduce them.
"""

from __future__ import annotations

import inspect
from typing import Any

from kgraph.losses.classes import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    Huber,
    KLDivergence,
    LogCosh,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from kgraph.losses.functions import (
    KLD,
    MAE,
    MAPE,
    MSE,
    MSLE,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    kld,
    log_cosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from kgraph.losses.loss import Loss

_CLASSES = (
    Loss,
    LossFunctionWrapper,
    KLDivergence,
    Poisson,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    LogCosh,
    Huber,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
)
_FUNCTIONS = (
    kl_divergence,
    poisson,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
    mean_squared_error,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_logarithmic_error,
    cosine_similarity,
    log_cosh,
    huber,
    hinge,
    squared_hinge,
    categorical_hinge,
)

FUNCTIONS: dict[str, Any] = {fn.__name__: fn for fn in _FUNCTIONS}
FUNCTIONS.update(
    {
        "bce": binary_crossentropy,
        "BCE": binary_crossentropy,
        "kld": kl_divergence,
        "KLD": kl_divergence,
        "mae": mae,
        "MAE": mae,
        "mse": mse,
        "MSE": mse,
        "mape": mape,
        "MAPE": mape,
        "msle": msle,
        "MSLE": msle,
    }
)
ALL_OBJECTS: dict[str, Any] = {cls.__name__: cls for cls in _CLASSES} | FUNCTIONS


def _valid_names() -> str:
    return f"Valid names are: {sorted(ALL_OBJECTS)}"


def serialize_function(fn) -> dict:
    """A function's config in the form Keras writes (and reads back) for built-in functions."""
    return {
        "module": "builtins",
        "class_name": "function",
        "config": fn.__name__,
        "registered_name": "function",
    }


def deserialize_function(config: str | dict, custom_objects: dict | None = None):
    """The function named by `config` (a name or a dict made by `serialize_function`)."""
    name = config.get("config") if isinstance(config, dict) else config
    found = (custom_objects or {}).get(name) or FUNCTIONS.get(name)
    if found is None:
        raise ValueError(f"Unknown loss function: {name!r}. {_valid_names()}")
    return found


def serialize_instance(obj, keras_module: str, builtins: dict) -> dict:
    """The Keras-format config dict of a loss or metric object: built-in classes name Keras's module."""
    cls = type(obj)
    builtin = builtins.get(cls.__name__) is cls
    return {
        "module": keras_module if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": obj.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def serialize(loss) -> dict:
    """Returns a loss's Keras-format config dict (`module`, `class_name`, `config`, `registered_name`)."""
    if not isinstance(loss, Loss):
        return serialize_function(loss)
    return serialize_instance(loss, "keras.losses", ALL_OBJECTS)


def deserialize(name: str | dict, custom_objects: dict | None = None):
    """Builds a loss from a name or a config dict made by `serialize`.

    Args:
        name: A function or class name (`'mse'`, `'Huber'`...), or a config dict.
        custom_objects: Optional dict mapping names to custom loss classes or functions.

    Returns:
        A loss function, or a `Loss` instance for a class name or class config.

    Raises:
        ValueError: If the name is unknown; the message lists the valid names.
    """
    custom_objects = custom_objects or {}
    if isinstance(name, dict):
        if name.get("class_name") == "function":
            return deserialize_function(name, custom_objects)
        found = next(
            (
                custom_objects[k]
                for k in (name.get("registered_name"), name.get("class_name"))
                if k in custom_objects
            ),
            None,
        ) or ALL_OBJECTS.get(name.get("class_name"))
        if not inspect.isclass(found):
            raise ValueError(f"Could not deserialize loss config {name}. {_valid_names()}")
        return found.from_config(dict(name.get("config") or {}))
    found = custom_objects.get(name) or ALL_OBJECTS.get(name)
    if found is None:
        raise ValueError(f"Could not interpret loss identifier: {name}. {_valid_names()}")
    return found() if inspect.isclass(found) else found


def get(identifier: Any):
    """Retrieves a loss from `None`, a name, a config dict, a function, a class or an instance.

    Names give what Keras gives: a function for function names and aliases (`'mse'`,
    `'categorical_crossentropy'`), an instance for class names (`'MeanSquaredError'`).

    Raises:
        ValueError: If the identifier cannot be interpreted; the message lists the valid names.

    Example:

    >>> get("mse") is mean_squared_error
    True
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
    raise ValueError(f"Could not interpret loss identifier: {identifier}. {_valid_names()}")


__all__ = [
    "binary_crossentropy",
    "BinaryCrossentropy",
    "categorical_crossentropy",
    "categorical_hinge",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "cosine_similarity",
    "CosineSimilarity",
    "deserialize",
    "get",
    "Hinge",
    "hinge",
    "huber",
    "Huber",
    "kl_divergence",
    "kld",
    "KLD",
    "KLDivergence",
    "log_cosh",
    "LogCosh",
    "Loss",
    "LossFunctionWrapper",
    "mae",
    "MAE",
    "mape",
    "MAPE",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "MSE",
    "mse",
    "MSLE",
    "msle",
    "poisson",
    "Poisson",
    "serialize",
    "sparse_categorical_crossentropy",
    "SparseCategoricalCrossentropy",
    "squared_hinge",
    "SquaredHinge",
]

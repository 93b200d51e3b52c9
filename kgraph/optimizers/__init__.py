"""`keras.optimizers`: SGD, Adam, AdamW, RMSprop, Adagrad, learning rate schedules, lookup by name."""

from __future__ import annotations

from typing import Any

from kgraph.optimizers import schedules
from kgraph.optimizers.adagrad import Adagrad
from kgraph.optimizers.adam import Adam
from kgraph.optimizers.adamw import AdamW
from kgraph.optimizers.base import Optimizer
from kgraph.optimizers.rmsprop import RMSprop
from kgraph.optimizers.sgd import SGD

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "schedules",
    "serialize",
]

ALL_OBJECTS = {cls.__name__.lower(): cls for cls in (Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad)}
# Keras optimizers that kgraph does not implement, named in the error so the reason is clear.
_NOT_IMPLEMENTED = ("adadelta", "adafactor", "adamax", "ftrl", "lamb", "lion", "muon", "nadam")


def serialize(optimizer: Optimizer) -> dict:
    """The Keras-format config dict of an optimizer (`module`, `class_name`, `config`, `registered_name`)."""
    cls = type(optimizer)
    builtin = ALL_OBJECTS.get(cls.__name__.lower()) is cls
    return {
        "module": "keras.optimizers" if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": optimizer.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """Builds an optimizer from a dict made by `serialize` (class names of built-ins are case-insensitive).

    Args:
        config: a dict with `class_name` and `config`.
        custom_objects: optional dict mapping names to custom optimizer classes.

    Raises:
        ValueError: for an unknown class name.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret optimizer identifier: {config}")
    custom_objects = custom_objects or {}
    for name in (config.get("registered_name"), config["class_name"]):
        if name in custom_objects:
            return custom_objects[name].from_config(dict(config.get("config") or {}), custom_objects)
    cls = ALL_OBJECTS.get(config["class_name"].lower())
    if cls is None or cls is Optimizer:
        name = config["class_name"]
        reason = " kgraph does not implement it yet." if name.lower() in _NOT_IMPLEMENTED else ""
        valid = sorted(c.__name__ for c in ALL_OBJECTS.values() if c is not Optimizer)
        raise ValueError(
            f"Could not interpret optimizer identifier: {name}.{reason} Valid names are: {valid}"
        )
    return cls.from_config(dict(config.get("config") or {}), custom_objects)


def get(identifier: Any) -> Optimizer | None:
    """Retrieves an optimizer from a name (`'adam'`, `'SGD'`...), a config dict, or an instance.

    Example:

    >>> get("adam").get_config()["learning_rate"]
    0.0010000000474974513

    Raises:
        ValueError: if the identifier cannot be interpreted.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if isinstance(identifier, Optimizer):
        return identifier
    raise ValueError(f"Could not interpret optimizer identifier: {identifier}")

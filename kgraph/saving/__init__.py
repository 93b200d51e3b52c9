"""`keras.saving`: save and load models and weights in Keras 3's formats, and (de)serialize objects.

Files written here load in Keras 3, and files written by Keras 3 load here: the native `.keras` zip, the
legacy `.h5` file and `.weights.h5` weight files.

The registry of custom objects is light and imported with the package; saving, loading and serialization know
every layer and model class, so they load on first use (layers and activations use the registry).
"""

from kgraph.config import enable_unsafe_deserialization
from kgraph.saving.h5_access import FileFormatError
from kgraph.saving.object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)

_ON_FIRST_USE = {
    "load_model": "saving_api",
    "load_weights": "saving_api",
    "model_from_json": "saving_api",
    "save_model": "saving_api",
    "save_weights": "saving_api",
    "deserialize_keras_object": "serialization",
    "serialize_keras_object": "serialization",
}

__all__ = [
    "CustomObjectScope",
    "FileFormatError",
    "custom_object_scope",
    "deserialize_keras_object",
    "enable_unsafe_deserialization",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "load_weights",
    "model_from_json",
    "register_keras_serializable",
    "save_model",
    "save_weights",
    "serialize_keras_object",
]


def __getattr__(name: str):
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module 'kgraph.saving' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"kgraph.saving.{module}"), name)

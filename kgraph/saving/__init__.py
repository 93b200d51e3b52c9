"""`keras.saving`: save and load models and weights in Keras 3's formats, and (de)serialize objects.

Files written here load in Keras 3, and files written by Keras 3 load here: the native `.keras` zip, the
legacy `.h5` file and `.weights.h5` weight files.
"""

from kgraph.saving.h5_access import FileFormatError
from kgraph.saving.object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from kgraph.saving.saving_api import load_model, load_weights, model_from_json, save_model, save_weights
from kgraph.saving.serialization import (
    deserialize_keras_object,
    enable_unsafe_deserialization,
    serialize_keras_object,
)

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

"""Layer configs across the two libraries: Keras's spelling going out, kgraph's constructors coming in.

Keras 3 writes a layer's dtype as a `DTypePolicy` object and adds arguments kgraph's layers do not take
(`quantization_config`, `ragged`...). Reading, such an argument is dropped when it holds its neutral value and
rejected, naming the layer, when it asks for something kgraph cannot do. Nested objects that are custom
(a registered initializer, a custom activation function) are rebuilt here, since the layers' own lookups only
know kgraph's built-ins.
"""

from __future__ import annotations

import inspect

from kgraph.layers.layer import Layer

# Keyword arguments kgraph's Layer base accepts besides its named parameters.
_LAYER_KWARGS = {"input_shape", "input_dim", "batch_input_shape", "batch_size", "autocast"}

FLOAT32_POLICY = {
    "module": "keras",
    "class_name": "DTypePolicy",
    "config": {"name": "float32"},
    "registered_name": None,
}


# Arguments Keras 3 writes for these built-in layers that kgraph's do not take, with their neutral values.
_KERAS_ONLY_ARGUMENTS = {
    "InputLayer": {"ragged": False, "optional": False},
    "Dense": {"quantization_config": None},
    "Embedding": {"quantization_config": None},
}


def keras_layer_config(layer: Layer) -> dict:
    """`layer.get_config()` as Keras 3 spells it: the dtype as a policy, and Keras's extra arguments."""
    from kgraph.layers.core.input_layer import InputLayer
    from kgraph.saving.builtins import public_name

    config = dict(layer.get_config())
    if not isinstance(layer, InputLayer) and config.get("dtype") in (None, "float32"):
        config["dtype"] = dict(FLOAT32_POLICY, config={"name": "float32"})
    if public_name(type(layer)) is not None:
        for key, value in _KERAS_ONLY_ARGUMENTS.get(type(layer).__name__, {}).items():
            config.setdefault(key, value)
    return config


def layer_kwargs(cls: type, config: dict, custom_objects: dict) -> dict:
    """The config of a layer (from kgraph or Keras) as keyword arguments for `cls`.

    Raises:
        ValueError: for a dtype other than float32, or a Keras argument kgraph does not support.
    """
    name = config.get("name", "?")
    kwargs = {}
    accepted = _accepted_arguments(cls)
    for key, value in config.items():
        value = _dtype_name(value, cls, name) if key == "dtype" else _rebuild_custom(value, custom_objects)
        if accepted is not None and key not in accepted:
            if _is_neutral(value):
                continue
            raise ValueError(
                f"Layer '{name}' ({cls.__name__}): kgraph does not support the argument `{key}` "
                f"(received {key}={value!r})."
            )
        kwargs[key] = value
    return kwargs


# Input dtypes kgraph takes besides float32: integer data (token ids) is fed to the compiled program as is.
_INPUT_DTYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "bool"}


def _dtype_name(value, cls: type, name: str):
    from kgraph.layers.core.input_layer import InputLayer

    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name", "float32")
    if issubclass(cls, InputLayer) and value in _INPUT_DTYPES:
        return value
    if value not in (None, "float32"):
        raise ValueError(
            f"Layer '{name}' ({cls.__name__}): only float32 is supported, the file asks for dtype {value!r}."
        )
    return value


def _is_neutral(value) -> bool:
    """Whether an argument kgraph does not take holds a value that asks for nothing."""
    return value is None or value is False or (isinstance(value, dict | list) and not value)


def _accepted_arguments(cls: type) -> set[str] | None:
    """The argument names `cls(...)` accepts, following `**kwargs` up to kgraph's Layer; None if unbounded."""
    accepted: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or not issubclass(klass, Layer):  # mixins (the trainer) do not see the kwargs
            continue
        parameters = inspect.signature(init).parameters.values()
        accepted.update(p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if klass is Layer:
            return accepted | _LAYER_KWARGS
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return accepted
    return None


def _rebuild_custom(value, custom_objects: dict):
    """Rebuilds a nested config or name that refers to a custom object; leaves built-ins to the layer."""
    from kgraph.saving.serialization import deserialize_keras_object

    if isinstance(value, str) and value in custom_objects:
        return custom_objects[value]
    if isinstance(value, dict) and "class_name" in value:
        keys = (value.get("registered_name"), value.get("class_name"))
        inner = value.get("config")
        if value.get("class_name") == "function" and isinstance(inner, str):
            keys = (*keys, inner)
        if (
            any(isinstance(k, str) and k in custom_objects for k in keys)
            or value.get("class_name") == "__lambda__"
        ):
            return deserialize_keras_object(value, custom_objects)
    return value

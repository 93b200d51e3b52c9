"""Object configs in Keras 3's format: `{"module", "class_name", "config", "registered_name"}`.

`serialize_keras_object` writes kgraph's built-in classes and functions under Keras's public module names
(`keras.layers`, `keras.optimizers`...), so Keras can read them; `deserialize_keras_object` maps those names
back to kgraph's objects through a fixed table (`builtins`). Custom objects are found by name among
registered, scoped or passed objects. Loading never imports a module named by a file, and rebuilds a Python
lambda only with `safe_mode=False`.
"""

from __future__ import annotations

import base64
import inspect
import marshal
import threading
import types
import warnings
from typing import Any

import numpy as np

from kgraph import config
from kgraph.saving import object_registration
from kgraph.saving.builtins import (
    LAMBDA_SAFE_MODE_MESSAGE,
    public_name,
    resolve_class,
    resolve_function,
)

PLAIN_TYPES = (str, int, float, bool)

_state = threading.local()


# --- safe mode ---------------------------------------------------------------------------------------------
class SafeModeScope:
    """Sets the safe mode of every deserialization nested inside the block."""

    def __init__(self, safe_mode: bool | None = True):
        self.safe_mode = safe_mode

    def __enter__(self) -> SafeModeScope:
        self._previous = getattr(_state, "safe_mode", None)
        _state.safe_mode = self.safe_mode
        return self

    def __exit__(self, *exc_info) -> None:
        _state.safe_mode = self._previous


def in_safe_mode() -> bool | None:
    """The safe mode set by an enclosing scope or `enable_unsafe_deserialization` (None when unset)."""
    scoped = getattr(_state, "safe_mode", None)
    if scoped is not None:
        return scoped
    return False if config.unsafe_deserialization_enabled() else None


# --- serialization -----------------------------------------------------------------------------------------
def serialize_keras_object(obj) -> Any:
    """The Keras-format config of `obj` (plain values, lists and dicts are serialized item by item).

    Args:
        obj: a layer, model, optimizer, loss, metric, initializer, regularizer, constraint, schedule,
            function, numpy array, or a plain value or container of those.

    Returns:
        A JSON-compatible value; objects become `{"module", "class_name", "config", "registered_name"}`.

    Raises:
        TypeError: for an object that has no `get_config` and no name.
    """
    if obj is None or isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, list | tuple):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, bytes):
        return {"class_name": "__bytes__", "config": {"value": obj.decode("utf-8")}}
    if isinstance(obj, np.ndarray) and obj.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": str(obj.dtype)}}
    if isinstance(obj, np.generic | np.ndarray):
        return obj.item()
    if isinstance(obj, types.FunctionType) and obj.__name__ == "<lambda>":
        warnings.warn(
            "The object being serialized includes a `lambda`. This is unsafe. In order to reload the "
            "object, you will have to pass `safe_mode=False` to the loading function. Please avoid using "
            "`lambda` in the future, and use named Python functions instead.",
            stacklevel=2,
        )
        return {"class_name": "__lambda__", "config": {"value": dump_function(obj)}}
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return _serialize_function(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(
            f"Cannot serialize object {obj!r} of type {type(obj)}. To be serializable, a class must "
            "implement the `get_config()` method."
        )
    return _serialize_instance(obj)


def serialize_nested_layer(layer, input_shape=None) -> dict:
    """A layer held by another (Bidirectional's halves, TimeDistributed's layer), as Keras nests it: with the
    input shape it was built for, when it was built."""
    config = serialize_keras_object(layer)
    if input_shape is not None:
        config["build_config"] = {"input_shape": _shape_as_json(input_shape)}
    return config


def _shape_as_json(shape):
    return [_shape_as_json(s) if isinstance(s, list | tuple) else s for s in shape]


def _serialize_function(fn) -> dict:
    public = public_name(fn)
    if public is not None:
        module, name = public
        return {"module": module, "class_name": "function", "config": name, "registered_name": name}
    registered = object_registration.get_registered_name(fn)
    return {
        "module": fn.__module__,
        "class_name": "function",
        "config": registered,
        "registered_name": registered,
    }


def _serialize_instance(obj) -> dict:
    from kgraph.layers.layer import Layer
    from kgraph.models import Model
    from kgraph.saving.layer_config import keras_layer_config

    cls = type(obj)
    config = (
        keras_layer_config(obj) if isinstance(obj, Layer) and not isinstance(obj, Model) else obj.get_config()
    )
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {obj!r} should return a dict. It returned: {config!r}")
    public = public_name(cls)
    if public is not None:
        module, class_name = public
        registered_name = "Functional" if class_name == "Functional" else None
    else:
        module = None if cls.__module__ == "__main__" else cls.__module__
        class_name = cls.__name__
        registered_name = object_registration.get_registered_name(cls)
    serialized = {
        "module": module,
        "class_name": class_name,
        "config": serialize_keras_object(config),
        "registered_name": registered_name,
    }
    if isinstance(obj, Model):
        build_config = obj.get_build_config()
        if build_config is not None:
            serialized["build_config"] = serialize_keras_object(build_config)
        compile_config = obj.get_compile_config()
        if compile_config is not None:
            serialized["compile_config"] = serialize_keras_object(compile_config)
    return serialized


def dump_function(fn) -> list:
    """Keras's `(code, defaults, closure)` form of a lambda: marshalled bytecode in base64."""
    code = base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")
    closure = [cell.cell_contents for cell in fn.__closure__] if fn.__closure__ else None
    return [code, list(fn.__defaults__) if fn.__defaults__ else None, closure]


def _load_function(value, safe_mode: bool):
    if safe_mode:
        raise ValueError(LAMBDA_SAFE_MODE_MESSAGE)
    code, defaults, closure = (value, None, None) if isinstance(value, str) else value
    function = types.FunctionType(marshal.loads(base64.b64decode(code.encode("ascii"))), globals())
    if defaults:
        function.__defaults__ = tuple(defaults)
    if closure:
        raise ValueError("Rebuilding a lambda that captures variables (a closure) is not supported.")
    return function


# --- deserialization ---------------------------------------------------------------------------------------
def all_custom_objects(custom_objects: dict | None = None) -> dict:
    """Passed objects, then the global registry, then active scopes (later ones win)."""
    return {
        **(custom_objects or {}),
        **object_registration.get_custom_objects(),
        **object_registration.scoped_custom_objects(),
    }


def deserialize_keras_object(config, custom_objects: dict | None = None, safe_mode: bool = True, **kwargs):
    """Rebuilds the object described by a config made by `serialize_keras_object` (or by Keras 3).

    Args:
        config: a config dict, a plain value, or a list or dict of those.
        custom_objects: `{name: class or function}` for custom objects named in the config.
        safe_mode: whether to refuse configs that would run code from the file (Python lambdas).
        **kwargs: `module_objects`, a dict of extra objects by name (Keras's argument).

    Returns:
        The object (a layer, model, optimizer, loss, function...), or plain values as they are.

    Raises:
        ValueError: for a lambda in safe mode, an unknown class or function, or a malformed config.
    """
    scoped = in_safe_mode()
    safe_mode = scoped if scoped is not None else safe_mode
    custom_objects = {**(kwargs.pop("module_objects", None) or {}), **all_custom_objects(custom_objects)}
    if config is None or isinstance(config, PLAIN_TYPES):
        if isinstance(config, str) and config in custom_objects:
            return custom_objects[config]
        return config
    if isinstance(config, list | tuple):
        return [deserialize_keras_object(x, custom_objects, safe_mode) for x in config]
    if not isinstance(config, dict):
        if callable(config) or hasattr(config, "get_config"):
            return config  # already an object (a custom object rebuilt for a layer's constructor)
        raise TypeError(f"Could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {
            key: deserialize_keras_object(value, custom_objects, safe_mode) for key, value in config.items()
        }
    special = _deserialize_special(config, safe_mode)
    if special is not _NOT_SPECIAL:
        return special
    class_name = config["class_name"]
    inner = config["config"] if config["config"] is not None else {}
    if class_name == "function":
        if not isinstance(inner, str):
            raise TypeError(f"Expected 'config' to be a non-null str for a function, received: {config}")
        return resolve_function(inner, config.get("registered_name"), config.get("module"), custom_objects)
    if not isinstance(inner, dict):
        raise TypeError(f"Expected 'config' to be a dict for {class_name}, received: {config}")
    cls = resolve_class(class_name, config.get("registered_name"), config.get("module"), custom_objects)
    with object_registration.CustomObjectScope(custom_objects), SafeModeScope(safe_mode):
        return instantiate(cls, config, custom_objects)


_NOT_SPECIAL = object()


def _deserialize_special(config: dict, safe_mode: bool):
    class_name, inner = config["class_name"], config["config"]
    if class_name == "__numpy__":
        return np.array(inner["value"], dtype=inner["dtype"])
    if class_name == "__bytes__":
        return inner["value"].encode("utf-8")
    if class_name == "__ellipsis__":
        return Ellipsis
    if class_name == "__slice__":
        return slice(inner.get("start"), inner.get("stop"), inner.get("step"))
    if class_name == "__lambda__":  # the generic form, or a Lambda layer's {"code", "defaults", "closure"}
        value = (
            inner["value"]
            if "value" in inner
            else [inner["code"], inner.get("defaults"), inner.get("closure")]
        )
        return _load_function(value, safe_mode)
    if class_name == "__tensor__":
        return np.array(inner["value"], dtype=inner["dtype"])
    if class_name == "DTypePolicy" and config.get("module") in ("keras", "keras.dtype_policies"):
        return inner.get("name", "float32")
    return _NOT_SPECIAL


def instantiate(cls, config: dict, custom_objects: dict):
    """`cls.from_config` on a config dict, then its build and compile configs (models)."""
    from kgraph.layers.layer import Layer
    from kgraph.models import Model
    from kgraph.saving.layer_config import layer_kwargs

    inner = config["config"] if config["config"] is not None else {}
    try:
        if inspect.isclass(cls) and issubclass(cls, Model):
            instance = cls.from_config(dict(inner), custom_objects=custom_objects)
        elif inspect.isclass(cls) and issubclass(cls, Layer):
            instance = cls.from_config(layer_kwargs(cls, inner, custom_objects))
        elif _accepts_custom_objects(cls.from_config):
            instance = cls.from_config(dict(inner), custom_objects=custom_objects)
        else:
            instance = cls.from_config(dict(inner))
    except TypeError as error:
        raise TypeError(
            f"{cls.__name__} could not be deserialized from its config: {error}. Full object config: {config}"
        ) from error
    if isinstance(instance, Model):
        build_config = config.get("build_config")
        if build_config and not instance.built:
            instance.build_from_config(build_config)
        compile_config = config.get("compile_config")
        if compile_config:
            instance.compile_from_config(compile_config)
    return instance


def _accepts_custom_objects(method) -> bool:
    try:
        return "custom_objects" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False

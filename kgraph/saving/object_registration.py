"""Custom objects: the global registry filled by `register_keras_serializable`, and scoped extras.

A saved config names custom classes and functions by their registered name (`"Custom>MyLayer"`) or their plain
name; deserialization finds them here, in the objects passed as `custom_objects`, or in an active
`custom_object_scope`. Nothing is ever imported by name from a file.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}
_GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}
_scopes = threading.local()


def _scope_stack() -> list[dict]:
    if not hasattr(_scopes, "stack"):
        _scopes.stack = []
    return _scopes.stack


class CustomObjectScope:
    """Makes custom classes and functions visible to deserialization inside a `with` block.

    Args:
        custom_objects: a dict `{name: class or function}` (several dicts may be given).

    Example:

    >>> with custom_object_scope({"MyDense": MyDense}):
    ...     model = keras.models.load_model("model.keras")
    """

    def __init__(self, *custom_objects: dict | None):
        self.custom_objects: dict[str, Any] = {}
        for objects in custom_objects:
            self.custom_objects.update(objects or {})

    def __enter__(self) -> CustomObjectScope:
        _scope_stack().append(self.custom_objects)
        return self

    def __exit__(self, *exc_info) -> None:
        _scope_stack().pop()


custom_object_scope = CustomObjectScope


def get_custom_objects() -> dict[str, Any]:
    """The live global dict of registered custom objects (scoped objects are not in it).

    Example:

    >>> get_custom_objects().clear()
    >>> get_custom_objects()["MyObject"] = MyObject
    """
    return _GLOBAL_CUSTOM_OBJECTS


def scoped_custom_objects() -> dict[str, Any]:
    """The objects of every active `custom_object_scope`, innermost last (so it wins)."""
    merged: dict[str, Any] = {}
    for objects in _scope_stack():
        merged.update(objects)
    return merged


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Registers a class or function under `"package>name"` so saved configs can name it.

    Args:
        package: the first part of the registered name.
        name: the second part (default: the object's `__name__`).

    Returns:
        A decorator that registers its argument and returns it unchanged.

    Raises:
        ValueError: when a class without `get_config` is registered.

    Example:

    >>> @register_keras_serializable("my_package")
    ... class MyDense(keras.layers.Dense):
    ...     pass
    >>> get_registered_name(MyDense)
    'my_package>MyDense'
    """

    def decorator(obj):
        registered_name = f"{package}>{name if name is not None else obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() method.")
        _GLOBAL_CUSTOM_OBJECTS[registered_name] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = registered_name
        return obj

    return decorator


def get_registered_name(obj) -> str:
    """The registered name of a class or function, or its `__name__` when it is not registered."""
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", None))


def is_registered(obj) -> bool:
    return obj in _GLOBAL_CUSTOM_NAMES


def get_registered_object(name: str, custom_objects: dict | None = None, module_objects: dict | None = None):
    """The object registered (or scoped, or passed) under `name`; None when there is none.

    Lookup order is Keras's: active scopes, the global registry, `custom_objects`, `module_objects`.
    """
    for objects in (scoped_custom_objects(), _GLOBAL_CUSTOM_OBJECTS, custom_objects, module_objects):
        if objects and name in objects:
            return objects[name]
    return None

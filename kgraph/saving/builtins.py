"""Which kgraph object stands for which Keras 3 name, both ways.

Keras writes built-ins by public module and name (`keras.layers` + `Dense`, `keras.losses` + `function`
`mean_squared_error`). This table is the only way a name in a file becomes a kgraph object: nothing is
imported by name, so a file can reach only kgraph's built-ins and the custom objects the user registered or
passed.
"""

from __future__ import annotations

import inspect
from typing import Any

LAMBDA_SAFE_MODE_MESSAGE = (
    "Requested the deserialization of a Python lambda. This carries a potential risk of arbitrary code "
    "execution and thus it is disallowed by default. If you trust the source of the artifact, you can "
    "override this error by passing `safe_mode=False` to the loading function, or calling "
    "`keras.config.enable_unsafe_deserialization()."
)


def builtin_objects() -> dict[str, dict[str, Any]]:
    """`{keras module: {public name: kgraph object}}` for every object kgraph can stand in for."""
    table = getattr(builtin_objects, "_table", None)
    if table is None:
        table = _build_builtin_table()
        builtin_objects._table = table
    return table


def _build_builtin_table() -> dict[str, dict[str, Any]]:
    from kgraph import activations, constraints, initializers, layers, losses, metrics, regularizers
    from kgraph import optimizers as optimizers_module
    from kgraph.layers.layer import Layer
    from kgraph.models import Model, Sequential
    from kgraph.optimizers import schedules

    layer_classes = {
        name: obj
        for name, obj in vars(layers).items()
        if inspect.isclass(obj) and issubclass(obj, Layer) and obj is not Layer
    }
    models = {"Functional": Model, "Model": Model, "Sequential": Sequential}
    optimizer_classes = {cls.__name__: cls for cls in optimizers_module.ALL_OBJECTS.values()}
    return {
        "keras": models,
        "keras.models": models,
        "keras.layers": layer_classes,
        "keras.activations": dict(activations._BUILTINS),
        "keras.initializers": dict(initializers.ALL_OBJECTS),
        "keras.regularizers": dict(regularizers._BY_NAME),
        "keras.constraints": dict(constraints._BY_NAME),
        "keras.optimizers": optimizer_classes,
        "keras.optimizers.schedules": dict(schedules.ALL_OBJECTS),
        "keras.losses": dict(losses.ALL_OBJECTS),
        "keras.metrics": {**metrics.FUNCTIONS, **metrics.ALL_OBJECTS},
    }


# Modules searched for a built-in function saved with module "builtins" (Keras's legacy spelling).
_FUNCTION_MODULES = ("keras.activations", "keras.losses", "keras.metrics")


def public_name(obj) -> tuple[str, str] | None:
    """`(keras module, public name)` of a kgraph built-in class or function, else None."""
    from kgraph.models import Model, Sequential

    if obj is Sequential:
        return "keras", "Sequential"
    if obj is Model:
        return "keras.src.models.functional", "Functional"
    name = getattr(obj, "__name__", None)
    for module, objects in builtin_objects().items():
        if module in ("keras", "keras.models"):
            continue
        if name is not None and objects.get(name) is obj:
            return module, name
    return None


def resolve_class(class_name: str, registered_name, module, custom_objects: dict):
    """The class a config names: a custom object first, else kgraph's stand-in for a Keras built-in."""
    for name in (registered_name, class_name):
        if name and name in custom_objects:
            return custom_objects[name]
    if module is not None and (module == "keras" or module.startswith("keras.")):
        found = _builtin(class_name, module)
        if inspect.isclass(found):
            return found
    where = f" (module '{module}')" if module else ""
    hint = (
        " kgraph does not implement this Keras class yet."
        if module is not None and module.startswith("keras")
        else " Make sure custom classes are decorated with `@keras.saving.register_keras_serializable()` "
        "or passed in `custom_objects`."
    )
    raise TypeError(f"Could not locate class '{class_name}'{where}.{hint}")


def resolve_function(name: str, registered_name, module, custom_objects: dict):
    """The function a config names: a custom object first, else a kgraph built-in."""
    for key in (registered_name, name):
        if key and key in custom_objects:
            return custom_objects[key]
    modules = (module,) if module and module.startswith("keras.") else _FUNCTION_MODULES
    for candidate in modules:
        found = _builtin(name, candidate)
        if callable(found) and not inspect.isclass(found):
            return found
    if module == "builtins" and ">" not in name:
        # Keras <= 3.6 saved registered functions by their bare name.
        for key, obj in custom_objects.items():
            if key.endswith(f">{name}"):
                return obj
    raise TypeError(
        f"Could not locate function '{name}'. Make sure custom functions are decorated with "
        "`@keras.saving.register_keras_serializable()` or passed in `custom_objects`."
    )


def _builtin(name: str, module: str):
    table = builtin_objects()
    if module in table:
        return table[module].get(name)
    # Keras's internal module paths (keras.src.models.functional...) stand for the public ones.
    for public in ("keras.layers", "keras.optimizers", "keras.losses", "keras.metrics", "keras"):
        if name in table[public] and module.startswith("keras.src"):
            return table[public][name]
    return None

"""What `compile()` was given, saved and replayed: Keras 3's `compile_config` and legacy `training_config`.

Keras records the arguments as passed (a loss named "mse" stays "mse") with the optimizer as an object. The
legacy `.h5` form names losses and metrics by their full function names, because Keras 3 cannot read short
aliases such as "mse" back from a legacy file.
"""

from __future__ import annotations

from kgraph.saving.serialization import deserialize_keras_object, serialize_keras_object

# Metric names compile() resolves from the model's outputs; they stay strings in every format.
_CONTEXT_METRICS = ("accuracy", "acc", "crossentropy", "ce")


def get_compile_config(model) -> dict | None:
    """The model's compile arguments in Keras 3's format (None if the model is not compiled)."""
    if not getattr(model, "compiled", False):
        return None
    loss, loss_weights, metrics, weighted_metrics = model._compile_args
    steps = model.steps_per_execution
    return {
        "optimizer": serialize_keras_object(model.optimizer),
        "loss": serialize_keras_object(loss),
        "loss_weights": serialize_keras_object(loss_weights),
        "metrics": serialize_keras_object(metrics),
        "weighted_metrics": serialize_keras_object(weighted_metrics),
        "run_eagerly": False,
        # kgraph's 'auto' sizes native calls itself; Keras's own default is one step per call.
        "steps_per_execution": 1 if steps == "auto" else steps,
        "jit_compile": "auto",
    }


def compile_from_config(model, config: dict) -> None:
    """Compiles `model` from a `compile_config` (Keras's or kgraph's) and builds its optimizer."""
    config = deserialize_keras_object(config)
    arguments = {
        key: config[key]
        for key in ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "steps_per_execution")
        if key in config
    }
    if arguments.get("steps_per_execution") in (None, 1):
        arguments["steps_per_execution"] = "auto"
    model.compile(**arguments)
    if model.built and model.optimizer is not None:
        model.optimizer.build(list(model.trainable_weights))


# --- legacy .h5 ---------------------------------------------------------------------------------------------
def legacy_training_config(model) -> dict | None:
    """The `training_config` attribute of a legacy `.h5` file (None if the model is not compiled)."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    loss, loss_weights, metrics, weighted_metrics = model._compile_args
    return {
        "loss": _legacy_nested(loss, "loss"),
        "loss_weights": loss_weights,
        "metrics": _legacy_nested(metrics, "metric"),
        "weighted_metrics": _legacy_nested(weighted_metrics, "metric"),
        "run_eagerly": False,
        "steps_per_execution": 1 if model.steps_per_execution == "auto" else model.steps_per_execution,
        "jit_compile": "auto",
        "optimizer_config": {
            "class_name": type(model.optimizer).__name__,
            "config": model.optimizer.get_config(),
        },
    }


def _legacy_nested(spec, kind: str):
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {key: _legacy_nested(value, kind) for key, value in spec.items()}
    if isinstance(spec, list | tuple):
        return [_legacy_nested(value, kind) for value in spec]
    return _legacy_single(spec, kind)


def _legacy_single(spec, kind: str):
    from kgraph import losses, metrics

    if isinstance(spec, str):
        if kind == "metric" and spec in _CONTEXT_METRICS:
            return spec
        found = (losses.FUNCTIONS if kind == "loss" else metrics.FUNCTIONS).get(spec)
        if found is None and kind == "metric":
            found = losses.FUNCTIONS.get(spec)
        return found.__name__ if found is not None else spec
    if hasattr(spec, "get_config"):
        return {"class_name": type(spec).__name__, "config": spec.get_config()}
    return getattr(spec, "__name__", spec)


def compile_from_training_config(model, training_config: dict, custom_objects: dict) -> None:
    """Compiles `model` from a legacy `training_config` (the optimizer comes from `optimizer_config`)."""
    from kgraph import optimizers
    from kgraph.saving.object_registration import CustomObjectScope
    from kgraph.saving.serialization import all_custom_objects

    objects = all_custom_objects(custom_objects)
    with CustomObjectScope(objects):
        optimizer = optimizers.deserialize(training_config["optimizer_config"], objects)
        model.compile(
            optimizer=optimizer,
            loss=_legacy_objects(training_config.get("loss"), objects),
            loss_weights=training_config.get("loss_weights"),
            metrics=_legacy_objects(training_config.get("metrics"), objects),
            weighted_metrics=_legacy_objects(training_config.get("weighted_metrics"), objects),
        )
    if model.built:
        model.optimizer.build(list(model.trainable_weights))


def _legacy_objects(spec, custom_objects: dict):
    """Legacy specs keep names as names; custom ones and `{"class_name", "config"}` dicts become objects."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return custom_objects.get(spec, spec)
    if isinstance(spec, dict) and "class_name" in spec:
        if "module" not in spec and spec["class_name"] not in custom_objects:
            return spec  # kgraph's losses and metrics read legacy dicts themselves
        return deserialize_keras_object(spec, custom_objects)
    if isinstance(spec, dict):
        return {key: _legacy_objects(value, custom_objects) for key, value in spec.items()}
    return [_legacy_objects(value, custom_objects) for value in spec]

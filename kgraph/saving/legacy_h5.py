"""The legacy `.h5` model file (Keras 2's format, still read and written by Keras 3).

Layout: root attributes `keras_version`, `backend`, `model_config` (JSON `{"class_name", "config"}` whose
layers have no `module` key) and `training_config` (JSON, with `optimizer_config`); a `model_weights` group
with the attribute `layer_names` and one group per layer (attribute `weight_names`, datasets named by weight
path); an `optimizer_weights` group with `weight_names`. Weights are matched to layers by order, as in
Keras.
"""

from __future__ import annotations

import json

import numpy as np

from kgraph.saving.atomic import atomic_path
from kgraph.saving.h5_access import FileFormatError, Mismatch, child, read_dataset, string_list_attr
from kgraph.saving.weights_io import open_h5

LEGACY_BACKEND = "kgraph"


# --- writing -----------------------------------------------------------------------------------------------
def save_legacy_h5(model, filepath: str, include_optimizer: bool = True) -> None:
    """Writes `model` to a legacy `.h5` file atomically."""
    from kgraph.saving.compile_config import legacy_training_config
    from kgraph.saving.keras_archive import KERAS_FORMAT_VERSION

    with atomic_path(filepath) as tmp, open_h5(tmp, "w", f"'{filepath}'") as f:
        f.attrs["keras_version"] = KERAS_FORMAT_VERSION
        f.attrs["backend"] = LEGACY_BACKEND
        f.attrs["model_config"] = json.dumps(legacy_model_config(model)).encode("utf8")
        training_config = legacy_training_config(model) if include_optimizer else None
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        weights_group = f.create_group("model_weights")
        write_model_weights(weights_group, model)
        optimizer = getattr(model, "optimizer", None)
        if include_optimizer and optimizer is not None and optimizer.variables:
            _write_weights(f.create_group("optimizer_weights"), optimizer.variables, integer={0})


def legacy_model_config(model) -> dict:
    """`{"class_name", "config"}` of the model, with layer entries in the legacy form (no `module`)."""
    from kgraph.models.sequential import Sequential
    from kgraph.saving.model_config import model_config

    config = model_config(model)
    for entry in config["layers"]:
        for key in ("module", "registered_name", "build_config"):
            entry.pop(key, None)
    return {"class_name": "Sequential" if isinstance(model, Sequential) else "Functional", "config": config}


def write_model_weights(group, model) -> None:
    from kgraph.saving.keras_archive import KERAS_FORMAT_VERSION
    from kgraph.saving.weights_layout import legacy_layer_variables

    layers = model.layers
    group.attrs["layer_names"] = [layer.name.encode("utf8") for layer in layers]
    group.attrs["backend"] = LEGACY_BACKEND.encode("utf8")
    group.attrs["keras_version"] = KERAS_FORMAT_VERSION.encode("utf8")
    for layer in sorted(layers, key=lambda layer: layer.name):
        _write_weights(group.create_group(layer.name), legacy_layer_variables(layer))
    _write_weights(group.create_group("top_level_model_weights"), [])


def _write_weights(group, variables, integer: set[int] = frozenset()) -> None:
    group.attrs["weight_names"] = [v.path.encode("utf8") for v in variables]
    for index, variable in enumerate(variables):
        value = variable.numpy()
        if index in integer or variable.integer_valued:
            value = np.asarray(np.rint(value), np.int64)
        group.create_dataset(variable.path, data=value)


# --- reading -----------------------------------------------------------------------------------------------
def load_legacy_h5(filepath: str, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuilds a model from a legacy `.h5` file: config, weights, and (if `compile`) the training config."""
    from kgraph.saving.compile_config import compile_from_training_config
    from kgraph.saving.serialization import SafeModeScope, all_custom_objects

    source = f"'{filepath}'"
    objects = all_custom_objects(custom_objects)
    with open_h5(filepath, "r", source) as f:
        model_config = _json_attr(f, "model_config", source)
        if model_config is None:
            raise FileFormatError(f"No model config found in the file at {filepath}.")
        try:
            with SafeModeScope(safe_mode):
                model = model_from_legacy_config(model_config, objects)
        except (TypeError, ValueError) as error:
            raise type(error)(f"Could not rebuild the model saved in {source}: {error}") from error
        load_model_weights(required_group(f, "model_weights", source), model, source)
        training_config = _json_attr(f, "training_config", source) if compile else None
        if training_config is not None:
            compile_from_training_config(model, training_config, objects)
            if "optimizer_weights" in f:
                _load_optimizer_weights(
                    required_group(f, "optimizer_weights", source), model.optimizer, source
                )
    return model


def model_from_legacy_config(config: dict, custom_objects: dict):
    from kgraph.models import Model, Sequential

    if not isinstance(config, dict) or "config" not in config:
        raise ValueError(f"The model config is not a Keras configuration (no 'config' key): {config}")
    cls = {"Sequential": Sequential, "Functional": Model, "Model": Model}.get(config.get("class_name"))
    if cls is None:
        cls = custom_objects.get(config.get("class_name"))
    if cls is None:
        raise TypeError(f"Could not locate the model class '{config.get('class_name')}'.")
    return cls.from_config(dict(config["config"]), custom_objects=custom_objects)


def load_model_weights(group, model, source: str, skip_mismatch: bool = False) -> None:
    """Fills the model's layers, in order, from the layers of a `model_weights` group that hold weights."""
    import warnings

    from kgraph.saving.weights_layout import legacy_layer_variables

    layers = [layer for layer in model.layers if legacy_layer_variables(layer)]
    saved = []
    for name in string_list_attr(group, "layer_names"):
        layer_group = required_group(group, name, source)
        if string_list_attr(layer_group, "weight_names"):
            saved.append((name, layer_group))
    if len(saved) != len(layers):
        raise FileFormatError(
            f"{source}: layer count mismatch when loading weights from file. Model expected {len(layers)} "
            f"layers with weights, found {len(saved)} saved layers."
        )
    assignments, problems = [], []
    for index, (layer, (name, layer_group)) in enumerate(zip(layers, saved, strict=True)):
        variables = legacy_layer_variables(layer)
        names = string_list_attr(layer_group, "weight_names")
        if len(names) != len(variables):
            raise FileFormatError(
                f"{source}: weight count mismatch for layer #{index} (named {layer.name} in the current "
                f"model, {name} in the save file). Layer expects {len(variables)} weight(s). Received "
                f"{len(names)} saved weight(s)."
            )
        for variable, weight_name in zip(variables, names, strict=True):
            what = f"weight '{weight_name}' of layer '{layer.name}'"
            try:
                value = read_dataset(
                    required_dataset(layer_group, weight_name, source),
                    variable.shape,
                    source,
                    what,
                    integer_ok=variable.integer_valued,
                )
            except Mismatch as error:
                problems.append(str(error))
                continue
            assignments.append((variable, value))
    if problems and not skip_mismatch:
        raise FileFormatError("\n".join(problems))
    for problem in problems:
        warnings.warn(f"Skipping loading weights: {problem}", stacklevel=2)
    for variable, value in assignments:
        variable.assign(np.asarray(value, np.float32))


def _load_optimizer_weights(group, optimizer, source: str) -> None:
    import warnings

    names = string_list_attr(group, "weight_names")
    variables = optimizer.variables
    leading = len(variables) - sum(len(group) for group in optimizer.slots.values())
    if len(names) == leading:  # saved before training: iterations and learning rate only
        variables = variables[:leading]
    if len(names) != len(variables):
        warnings.warn(
            f"{source}: the saved optimizer has {len(names)} variables, the model's optimizer "
            f"{len(variables)}; the optimizer starts from a fresh state.",
            stacklevel=3,
        )
        return
    try:
        values = [
            read_dataset(
                required_dataset(group, name, source),
                v.shape,
                source,
                f"optimizer weight '{name}'",
                integer_ok=True,
            )
            for name, v in zip(names, variables, strict=True)
        ]
    except Mismatch as error:
        warnings.warn(f"{error} The optimizer starts from a fresh state.", stacklevel=3)
        return
    for variable, value in zip(variables, values, strict=True):
        variable.assign(np.asarray(value, np.float32))


def required_group(parent, path: str, source: str):
    node = parent
    for part in path.split("/"):
        try:
            node = child(node, part, source)
        except KeyError as error:
            raise FileFormatError(
                f"{source}: the group '{path}' is missing under '{parent.name}'."
            ) from error
    return node


def required_dataset(parent, path: str, source: str):
    *groups, name = path.split("/")
    node = required_group(parent, "/".join(groups), source) if groups else parent
    try:
        return child(node, name, source, kind="dataset")
    except KeyError as error:
        raise FileFormatError(f"{source}: the weight '{path}' is missing under '{parent.name}'.") from error


def _json_attr(f, name: str, source: str):
    value = f.attrs.get(name)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise FileFormatError(f"{source}: the attribute '{name}' is not valid JSON ({error}).") from error

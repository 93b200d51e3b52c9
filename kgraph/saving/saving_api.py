"""`keras.saving`'s entry points: save and load models and weights, chosen by the file's suffix.

- `.keras`: the native zip (`keras_archive`); `.h5` / `.hdf5`: the legacy file (`legacy_h5`);
- `.weights.h5`: weights and optimizer state only, laid out as in the `.keras` zip (`weights_layout`).

Every write is atomic (a temporary file renamed into place).
"""

from __future__ import annotations

import json
import os
import warnings

from kgraph.saving import keras_archive, legacy_h5
from kgraph.saving.atomic import ask_to_proceed_with_overwrite, atomic_path
from kgraph.saving.h5_access import FileFormatError
from kgraph.saving.weights_io import open_h5, read_entries, write_entries
from kgraph.saving.weights_layout import model_entries


def save_model(model, filepath, overwrite: bool = True, zipped: bool | None = None, **kwargs) -> None:
    """Saves a model to a `.keras` file (or a legacy `.h5` file).

    Args:
        model: the model.
        filepath: a path ending in `.keras`, `.h5` or `.hdf5`.
        overwrite: whether to replace an existing file without asking.
        zipped: only True (the zip format) is supported.
        **kwargs: `include_optimizer` (legacy `.h5` only; default True).

    Raises:
        ValueError: for another suffix or an unknown argument.

    Example:

    >>> model.save("model.keras")
    >>> restored = keras.models.load_model("model.keras")
    """
    include_optimizer = kwargs.pop("include_optimizer", True)
    if kwargs.pop("save_format", None):
        warnings.warn(
            "The `save_format` argument is deprecated in Keras 3; the suffix decides.", stacklevel=2
        )
    if kwargs:
        raise ValueError(f"The following argument(s) are not supported: {list(kwargs)}")
    filepath = os.fspath(filepath)
    if zipped is False:
        raise ValueError("kgraph saves models only as zipped `.keras` files (or legacy `.h5`): zipped=False.")
    if not filepath.endswith((".keras", ".h5", ".hdf5")):
        raise ValueError(
            "Invalid filepath extension for saving. Please add either a `.keras` extension for the native "
            "Keras format (recommended) or a `.h5` extension. Use `model.export(filepath)` if you want to "
            f"export a SavedModel for use with TFLite/TFServing/etc. Received: filepath={filepath}."
        )
    if os.path.exists(filepath) and not overwrite and not ask_to_proceed_with_overwrite(filepath):
        return
    if not model.built:
        warnings.warn(
            "You are saving a model that has not yet been built. It might not contain any weights yet. "
            "Consider building the model first by calling it on some data.",
            stacklevel=2,
        )
    if filepath.endswith(".keras"):
        keras_archive.save_keras_archive(model, filepath)
        return
    warnings.warn(
        "You are saving your model as an HDF5 file via `model.save()` or `keras.saving.save_model(model)`. "
        "This file format is considered legacy. We recommend using instead the native Keras format, e.g. "
        "`model.save('my_model.keras')` or `keras.saving.save_model(model, 'my_model.keras')`.",
        stacklevel=2,
    )
    legacy_h5.save_legacy_h5(model, filepath, include_optimizer)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True):
    """Loads a model saved by `model.save()` (by kgraph or by Keras 3).

    Args:
        filepath: a `.keras` or legacy `.h5` / `.hdf5` file.
        custom_objects: `{name: class or function}` for custom objects the file names.
        compile: whether to compile the model as it was saved (restoring the optimizer state).
        safe_mode: whether to refuse files that would run code when loaded (Python lambdas).

    Returns:
        The model, compiled if it was compiled when saved and `compile=True`.

    Raises:
        ValueError: for an unsupported or missing file, or a file that does not fit its own config
            (the message names the file, the layer and the problem).
        TypeError: for a class or function the file names that is neither built in nor a custom object.

    Example:

    >>> model = keras.models.load_model("model.keras", custom_objects={"MyLayer": MyLayer})
    """
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        if not os.path.isfile(filepath):
            raise ValueError(
                f"File not found: filepath={filepath}. Please ensure the file is an accessible `.keras` zip "
                "file."
            )
        return keras_archive.load_keras_archive(filepath, custom_objects, compile, safe_mode)
    if filepath.endswith((".h5", ".hdf5")):
        if not os.path.isfile(filepath):
            raise ValueError(f"File not found: filepath={filepath}.")
        return legacy_h5.load_legacy_h5(filepath, custom_objects, compile, safe_mode)
    raise ValueError(
        f"File format not supported: filepath={filepath}. Keras 3 only supports V3 `.keras` files, legacy H5 "
        "format files (`.h5` extension). Note that the legacy SavedModel format is not supported by "
        "`load_model()` in Keras 3."
    )


def save_weights(model, filepath, overwrite: bool = True, max_shard_size=None, **kwargs) -> None:
    """Saves the model's weights and optimizer state to a `.weights.h5` file.

    Raises:
        ValueError: when the name does not end in `.weights.h5`, or the model is not built.
    """
    filepath = os.fspath(filepath)
    if max_shard_size is not None:
        raise ValueError("kgraph does not write sharded weights yet: pass max_shard_size=None.")
    if not filepath.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={filepath}")
    if os.path.exists(filepath) and not overwrite and not ask_to_proceed_with_overwrite(filepath):
        return
    if not model.built:
        raise ValueError(
            "You are saving a model that has not yet been built. Try building the model first by calling it "
            "on some data or by using `build()`."
        )
    with atomic_path(filepath) as tmp, open_h5(tmp, "w", f"'{filepath}'") as h5file:
        write_entries(h5file, model_entries(model))


def load_weights(model, filepath, skip_mismatch: bool = False, **kwargs) -> None:
    """Loads weights (and optimizer state) from a `.weights.h5`, `.keras` or legacy `.h5` file.

    Args:
        model: a built model with the saved architecture.
        filepath: the file.
        skip_mismatch: whether to skip, with a warning, layers whose saved weights do not fit.

    Raises:
        ValueError: for an unsupported suffix, an unbuilt model, or weights that do not fit (naming the file,
            the layer and the problem).
    """
    filepath = os.fspath(filepath)
    if kwargs.pop("by_name", None):
        raise ValueError("kgraph does not support `by_name` loading.")
    if kwargs:
        raise ValueError(f"Invalid keyword arguments: {kwargs}")
    if not model.built:
        raise ValueError(
            "You are loading weights into a model that has not yet been built. Try building the model first "
            "by calling it on some data or by using `build()`."
        )
    source = f"'{filepath}'"
    if not filepath.endswith((".keras", ".weights.h5", ".h5", ".hdf5")):
        raise ValueError(
            f"File format not supported: filepath={filepath}. Keras 3 only supports V3 `.keras` files, "
            "`.weights.h5` files, legacy H5 format files (`.h5` extension), or Orbax checkpoints."
        )
    if not os.path.isfile(filepath):
        raise FileNotFoundError(f"No such file: {filepath}")
    _build_optimizer(model)
    if filepath.endswith(".keras"):
        with keras_archive.open_archive(filepath) as archive:
            keras_archive.load_weights_from_archive(model, archive, source, skip_mismatch)
    elif filepath.endswith(".weights.h5"):
        with open_h5(filepath, "r", source) as h5file:
            read_entries(h5file, model_entries(model), source, skip_mismatch)
    else:
        with open_h5(filepath, "r", source) as h5file:
            group = h5file
            if "layer_names" not in h5file.attrs and "model_weights" in h5file:
                group = legacy_h5.required_group(h5file, "model_weights", source)
            legacy_h5.load_model_weights(group, model, source, skip_mismatch)


def _build_optimizer(model) -> None:
    """Creates the optimizer's slots (as Keras's loading does) so its saved state has somewhere to go."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(list(model.trainable_weights))


def model_from_json(json_string: str, custom_objects: dict | None = None):
    """Rebuilds a model (freshly initialized; compiled if the JSON holds a compile config) from `to_json()`.

    Raises:
        ValueError: for a string that is not JSON or does not describe a model.
    """
    from kgraph.saving.serialization import deserialize_keras_object

    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as error:
        raise ValueError(f"`model_from_json` expects a JSON string: {error}") from error
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"The JSON string does not describe a Keras model: {json_string[:200]}")
    if "module" not in config:
        from kgraph.saving.serialization import all_custom_objects

        return legacy_h5.model_from_legacy_config(config, all_custom_objects(custom_objects))
    return deserialize_keras_object(config, custom_objects)


__all__ = ["FileFormatError", "load_model", "load_weights", "model_from_json", "save_model", "save_weights"]

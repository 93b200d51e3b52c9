"""The saving methods of models (`save`, `load_weights`, `get_config`...), mixed into `Model`."""

from __future__ import annotations

import json


class ModelSavingMixin:
    """Keras 3's saving and config API of a model, backed by `kgraph.saving`."""

    def save(self, filepath, overwrite: bool = True, zipped: bool | None = None, **kwargs) -> None:
        """Saves the model to a `.keras` file (or a legacy `.h5` file); see `kgraph.saving.save_model`."""
        from kgraph.saving.saving_api import save_model

        save_model(self, filepath, overwrite=overwrite, zipped=zipped, **kwargs)

    def save_weights(self, filepath, overwrite: bool = True, max_shard_size=None) -> None:
        """Saves the weights and optimizer state to a `.weights.h5` file."""
        from kgraph.saving.saving_api import save_weights

        save_weights(self, filepath, overwrite=overwrite, max_shard_size=max_shard_size)

    def load_weights(self, filepath, skip_mismatch: bool = False, **kwargs) -> None:
        """Loads weights (and optimizer state) from a `.weights.h5`, `.keras` or legacy `.h5` file."""
        from kgraph.saving.saving_api import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch, **kwargs)

    def get_config(self) -> dict:
        """The model's architecture in Keras 3's format (layers, and for functional models their calls)."""
        from kgraph.saving.model_config import model_config

        return model_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        """Rebuilds a model (with fresh weights) from `get_config()` output, Keras's or kgraph's."""
        from kgraph.models.sequential import Sequential
        from kgraph.saving import model_config

        if issubclass(cls, Sequential):
            return model_config.sequential_from_config(cls, config, custom_objects)
        if all(key in config for key in ("layers", "input_layers", "output_layers")):
            return model_config.functional_from_config(cls, dict(config), custom_objects)
        return model_config.subclassed_from_config(cls, dict(config), custom_objects)

    def to_json(self, **kwargs) -> str:
        """The model's config (with build and compile configs) as a JSON string; see `model_from_json`."""
        from kgraph.saving.serialization import serialize_keras_object

        return json.dumps(serialize_keras_object(self), **kwargs)

    def get_build_config(self) -> dict | None:
        from kgraph.models.sequential import Sequential

        if not self.built:
            return None
        if isinstance(self, Sequential):
            return {"input_shape": list(self._input_layer.batch_shape)}
        if getattr(self, "_subclassed", False):
            return {"input_shape": list(self.inputs[0].shape)}
        return {"input_shape": None}  # a functional model is built by its config (Keras writes None too)

    def build_from_config(self, config: dict) -> None:
        shape = (config or {}).get("input_shape")
        if shape is not None and not self.built:
            self.build(tuple(shape))

    def get_compile_config(self) -> dict | None:
        from kgraph.saving.compile_config import get_compile_config

        return get_compile_config(self)

    def compile_from_config(self, config: dict) -> None:
        from kgraph.saving.compile_config import compile_from_config

        compile_from_config(self, config)

"""Lambda: a Python function of the inputs as a layer, traced into the program like any `call`."""

from __future__ import annotations

import inspect
import types

from kgraph.layers.layer import Layer
from kgraph.saving.serialization import deserialize_keras_object, dump_function, serialize_keras_object


class Lambda(Layer):
    """Wraps `function(inputs, **arguments)` (written with `kgraph.ops`) as a layer.

    Args:
        function: the function; it may take `mask` and `training` keyword arguments.
        output_shape: the output shape without the batch axis, or a function of the input shape (default:
            found by tracing the function).
        mask: the output mask, or a function `(inputs, mask) -> mask`.
        arguments: extra keyword arguments for `function`.

    A Python `lambda` is saved as bytecode, as Keras does: loading it needs `safe_mode=False`.

    Example:

    >>> double = Lambda(lambda x: x * 2.0)
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.function, self.arguments = function, arguments or {}
        self.mask = mask
        self.supports_masking = mask is not None
        self._output_shape = output_shape
        parameters = inspect.signature(function).parameters
        self._takes_mask, self._takes_training = "mask" in parameters, "training" in parameters

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._takes_mask:
            kwargs["mask"] = mask
        if self._takes_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        return (batch, *self._output_shape)

    def compute_mask(self, inputs, mask=None):
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def get_config(self) -> dict:
        config = {"function": _function_config(self.function)}
        if self._output_shape is not None:
            shape = self._output_shape
            config["output_shape"] = _function_config(shape) if callable(shape) else shape
        if self.mask is not None:
            config["mask"] = _function_config(self.mask) if callable(self.mask) else self.mask
        config["arguments"] = serialize_keras_object(self.arguments)
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        for key in ("function", "output_shape", "mask", "arguments"):
            if isinstance(config.get(key), dict):  # a function (a lambda needs safe_mode=False) or arguments
                config[key] = deserialize_keras_object(config[key], custom_objects)
        if isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        return cls(**config)


def _function_config(function) -> dict:
    """Keras's config of a Lambda's function: a Python lambda as bytecode, any other by its name."""
    if isinstance(function, types.LambdaType) and function.__name__ == "<lambda>":
        code, defaults, closure = dump_function(function)
        return {
            "class_name": "__lambda__",
            "config": {"code": code, "defaults": defaults, "closure": closure},
        }
    return serialize_keras_object(function)

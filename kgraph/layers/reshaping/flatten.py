"""Flatten: collapses every axis but the batch into one."""

from __future__ import annotations

import math

from kgraph import ops
from kgraph.layers.layer import Layer


class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten '{self.name}': only data_format='channels_last' is supported.")
        self.data_format = data_format

    def call(self, inputs):
        return ops.reshape(inputs, (-1, math.prod(ops.shape(inputs)[1:])))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}

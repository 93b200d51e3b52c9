"""Flatten: collapses every axis but the batch into one."""

from __future__ import annotations

import math

from kgraph import ops
from kgraph.layers.layer import Layer
from kgraph.utils.argument_validation import standardize_data_format


class Flatten(Layer):
    """Keras's Flatten. With `data_format='channels_first'` the channels move last first, as Keras does, so a
    channels-first model flattens in the same order as its channels-last twin."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs):
        rank = len(ops.shape(inputs))
        if self.data_format == "channels_first" and rank > 2:
            inputs = ops.transpose(inputs, (0, *range(2, rank), 1))
        return ops.reshape(inputs, (-1, math.prod(ops.shape(inputs)[1:])))

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}

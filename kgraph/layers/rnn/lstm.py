"""LSTM: the long short-term memory layer (gates i, f, c, o in Keras's order)."""

from __future__ import annotations

import numpy as np

from kgraph import ops
from kgraph.layers.rnn.base_rnn import RecurrentLayer


class LSTM(RecurrentLayer):
    """Keras's LSTM.

    Args:
        units: the size of the states h and c.
        unit_forget_bias: add 1 to the forget gate's bias at initialization (default True).
        Other arguments as in Keras: activation ('tanh'), recurrent_activation ('sigmoid'), use_bias,
        initializers, regularizers, constraints, dropout, recurrent_dropout, return_sequences, return_state,
        go_backwards. Weights: kernel (features, 4 * units), recurrent_kernel (units, 4 * units), bias
        (4 * units,), gates in the order i, f, c, o.

    Example:
        >>> LSTM(4, return_sequences=True)(np.ones((2, 5, 3), "float32")).shape
        (2, 5, 4)
    """

    CELL = "lstm"
    GATES = 4
    STATES = 2

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def _input_projection(self, sequences):
        """`x @ kernel` for every step; the bias joins each step's gates inside the scan, as Keras adds it
        (`x @ kernel + h @ recurrent_kernel + bias`), and no pass over the projection adds it first."""
        return ops.matmul(sequences, self.kernel), self.bias if self.use_bias else None

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def initializer(shape, dtype=None):
            parts = [base((units,), dtype), np.ones((units,), np.float32), base((2 * units,), dtype)]
            return np.concatenate([np.asarray(p, np.float32) for p in parts])

        return initializer

    def get_config(self) -> dict:
        config = super().get_config()
        config["unit_forget_bias"] = self.unit_forget_bias
        return config

"""GRU: the gated recurrent unit (gates z, r, h in Keras's order), with the reset gate after or before the
recurrent matrix product."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.rnn.base_rnn import RecurrentLayer


class GRU(RecurrentLayer):
    """Keras's GRU.

    Args:
        units: the size of the state.
        reset_after: apply the reset gate after the recurrent product (default True, the cuDNN form; its bias
            has shape (2, 3 * units): input bias, then recurrent bias). With False the bias is (3 * units,).
        Other arguments as in Keras: activation ('tanh'), recurrent_activation ('sigmoid'), use_bias,
        initializers, regularizers, constraints, dropout, recurrent_dropout, return_sequences, return_state,
        go_backwards. Weights: kernel (features, 3 * units), recurrent_kernel (units, 3 * units), bias.

    Example:
        >>> GRU(4)(np.ones((2, 5, 3), "float32")).shape
        (2, 4)
    """

    CELL = "gru"
    GATES = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_projection(self, sequences):
        projected = ops.matmul(sequences, self.kernel)
        if not self.use_bias:
            return projected, None
        if not self.reset_after:
            return ops.add(projected, self.bias), None
        return ops.add(projected, self.bias[0]), self.bias[1]

    def get_config(self) -> dict:
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config

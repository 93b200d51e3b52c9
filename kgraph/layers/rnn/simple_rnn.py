"""SimpleRNN: `h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`."""

from __future__ import annotations

from kgraph.layers.rnn.base_rnn import RecurrentLayer


class SimpleRNN(RecurrentLayer):
    """Keras's SimpleRNN: a fully connected recurrence whose output is its state.

    Args:
        units: the size of the state. Other arguments as in Keras (`activation` default 'tanh'; initializers
            'glorot_uniform', 'orthogonal', 'zeros'; dropout, recurrent_dropout, return_sequences,
            return_state, go_backwards). Weights: kernel (features, units), recurrent_kernel (units, units),
            bias (units,).

    Example:
        >>> SimpleRNN(4)(np.ones((2, 5, 3), "float32")).shape
        (2, 4)
    """

    CELL = "simple"

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["recurrent_activation"], config["seed"]  # Keras's SimpleRNN writes neither
        return config

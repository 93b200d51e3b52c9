"""What SimpleRNN, LSTM and GRU share: arguments, weights, masks, dropout, and the call into the scan ops.

A recurrent layer is three IR steps: the input projection of every step as one `matmul` (plus the input bias),
the `rnn_scan` that walks time (kgraph/ir/ops/recurrent.py), and slices of the scan's small output value for
the sequence, the last output and the final states. Initial states, when given, travel as extra positional
inputs (`[sequences, *states]`, as Keras 2 accepted them), so a functional model needs no special wiring.
"""

from __future__ import annotations

import numpy as np

from kgraph import activations, constraints, initializers, ops, regularizers
from kgraph.ir.builder import Sym, emit
from kgraph.ir.ops.recurrent import check_activation
from kgraph.layers.layer import Layer
from kgraph.layers.weight_args import serialize_optional
from kgraph.ops.dispatch import apply_op


class RecurrentLayer(Layer):
    """The base of the built-in recurrent layers (Keras's `RNN` over a built-in cell).

    Subclasses set `CELL` ('simple', 'lstm' or 'gru'), `GATES` and `STATES`, and may extend `_bias_shape`.
    """

    CELL = ""
    _outputs_in_time_order = False  # Bidirectional sets it on its backward layer
    GATES = 1
    STATES = 1

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        use_cudnn="auto",
        **kwargs,
    ):
        kwargs.pop("implementation", None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"Received an invalid value for argument `units`, expected a positive integer, got {units}."
            )
        if stateful:
            raise ValueError(f"Layer '{self.name}': stateful=True is not supported by kgraph yet.")
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        check_activation(activations.serialize(self.activation), self.name, "activation")
        if self.GATES > 1:
            check_activation(
                activations.serialize(self.recurrent_activation), self.name, "recurrent_activation"
            )
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.use_cudnn = use_cudnn
        self.supports_masking = True

    # --- weights -----------------------------------------------------------------------------------
    def _bias_shape(self) -> tuple:
        return (self.GATES * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape) -> None:
        sequences = input_shape[0] if isinstance(input_shape, list) else input_shape
        if len(sequences) != 3:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected ndim=3, found '
                f"ndim={len(sequences)}. Full shape received: {tuple(sequences)}"
            )
        if sequences[-1] is None:
            raise ValueError(
                f"Layer '{self.name}': the last dimension of the inputs must be defined, received "
                f"input_shape={tuple(sequences)}."
            )
        width = self.GATES * self.units
        self.kernel = self.add_weight(
            (sequences[-1], width),
            self.kernel_initializer,
            name="kernel",
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            (self.units, width),
            self.recurrent_initializer,
            name="recurrent_kernel",
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                self._bias_shape(),
                self._bias_initializer(),
                name="bias",
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.built = True

    # --- calling -----------------------------------------------------------------------------------
    def __call__(self, inputs, training=None, initial_state=None, **kwargs):
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, list | tuple) else [initial_state]
            inputs = [inputs, *states]
        return super().__call__(inputs, training=training, **kwargs)

    def _scan_attrs(self) -> dict:
        return {
            "cell": self.CELL,
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "go_backwards": bool(self.go_backwards),
            "reset_after": bool(getattr(self, "reset_after", False)),
            "zero_output": bool(self.zero_output_for_mask and self.return_sequences),
            "time_order": bool(self._outputs_in_time_order and self.go_backwards and self.return_sequences),
        }

    def _input_projection(self, sequences):
        """`x @ kernel + input bias` for every step, and the bias the scan adds to each step's gates (None:
        zeros). LSTM and GRU with reset_after override it."""
        projected = ops.matmul(sequences, self.kernel)
        if self.use_bias:
            projected = ops.add(projected, self.bias)
        return projected, None

    def call(self, inputs, training=None, mask=None):
        sequences, *states = inputs if isinstance(inputs, list | tuple) else [inputs]
        if isinstance(mask, list | tuple):
            # A mask per input comes from a model's implicit masks; Keras 3 models do not apply them to a call
            # given initial states, so neither do we.
            mask = None if states else mask[0]
        steps, width = sequences.shape[1], self.GATES * self.units
        if len(states) not in (0, self.STATES):
            raise ValueError(
                f"Layer '{self.name}' expects {self.STATES} initial state(s), received {len(states)}."
            )
        if training and self.dropout > 0:
            keep = _dropout_mask(sequences, (sequences.shape[0], sequences.shape[2]), self.dropout)
            sequences = ops.multiply(sequences, ops.expand_dims(keep, 1))
        projected, recurrent_bias = self._input_projection(sequences)
        if recurrent_bias is None:
            recurrent_bias = _filled(0.0, (width,), sequences)
        if mask is None:
            mask = _filled(1.0, (None, steps), sequences)
        if training and self.recurrent_dropout > 0:
            recurrent_mask = _dropout_mask(sequences, (None, self.units), self.recurrent_dropout)
        else:
            recurrent_mask = _filled(1.0, (None, self.units), sequences)
        if not states:
            states = [_filled(0.0, (None, self.units), sequences) for _ in range(self.STATES)]
        operands = (projected, self.recurrent_kernel, recurrent_bias, mask, recurrent_mask, *states)
        attrs = self._scan_attrs()
        stash = apply_op("rnn_scan", *operands, **attrs)
        result = apply_op("rnn_outputs", stash, *operands, **attrs)
        output = result[:, :steps] if self.return_sequences else result[:, steps - 1]
        if not self.return_state:
            return output
        return [output, *(result[:, steps + i] for i in range(self.STATES))]

    def compute_mask(self, inputs, previous_mask=None):
        mask = previous_mask[0] if isinstance(previous_mask, list | tuple) else previous_mask
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * self.STATES if self.return_state else output_mask

    def compute_output_shape(self, input_shape):
        sequences = input_shape[0] if isinstance(input_shape, list) else input_shape
        batch = sequences[0]
        output = (batch, sequences[1], self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units)] * self.STATES
        return output

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": serialize_optional(regularizers, self.kernel_regularizer),
            "recurrent_regularizer": serialize_optional(regularizers, self.recurrent_regularizer),
            "bias_regularizer": serialize_optional(regularizers, self.bias_regularizer),
            "activity_regularizer": serialize_optional(regularizers, self.activity_regularizer),
            "kernel_constraint": serialize_optional(constraints, self.kernel_constraint),
            "recurrent_constraint": serialize_optional(constraints, self.recurrent_constraint),
            "bias_constraint": serialize_optional(constraints, self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


def _filled(value: float, shape: tuple, like):
    """A constant tensor of `shape` (None: the batch of `like`), symbolic when `like` is."""
    full = tuple(like.shape[0] if d is None else d for d in shape)  # a tape's batch is known
    if isinstance(like, Sym):
        return emit("broadcast_to", value, shape=full)
    return np.full(full, value, np.float32)


def _dropout_mask(like, shape: tuple, rate: float):
    """Keras's dropout mask of a recurrent layer: one draw per call, shared by every step."""
    shape = (like.shape[0], *shape[1:])  # None in a batch program, the batch itself on a tape
    if isinstance(like, Sym):
        draw = ops.random_uniform(shape)
    else:
        draw = np.random.default_rng().random(shape).astype(np.float32)
    return ops.where(ops.greater_equal(draw, rate), 1.0 / (1.0 - rate), 0.0)

"""Bidirectional: a recurrent layer run forward and a copy run backward over the same sequences, merged."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.layer import Layer
from kgraph.layers.rnn.base_rnn import RecurrentLayer

MERGE_MODES = ("sum", "mul", "ave", "concat", None)


class Bidirectional(Layer):
    """Keras's Bidirectional wrapper.

    Args:
        layer: a recurrent layer; the forward half is rebuilt from its config (named `forward_<name>`).
        merge_mode: how the two outputs combine: 'concat' (default), 'sum', 'mul', 'ave', or None (a list).
        weights: initial weights, forward half then backward half.
        backward_layer: the backward half (default: `layer`'s config with go_backwards=True).

    Weights are the forward layer's, then the backward layer's. With return_sequences the backward outputs are
    returned in time order (the scan writes them so; there is no flip to pay for).

    Example:
        >>> Bidirectional(LSTM(4))(np.ones((2, 5, 3), "float32")).shape
        (2, 8)
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, RecurrentLayer):
            raise ValueError(
                "Please initialize `Bidirectional` layer with a recurrent layer (SimpleRNN, LSTM, GRU). "
                f"Received: {layer}"
            )
        if backward_layer is not None and not isinstance(backward_layer, RecurrentLayer):
            raise ValueError(
                f"`backward_layer` need to be a recurrent layer instance. Received: {backward_layer}"
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Invalid merge mode. Received: {merge_mode}. Merge mode should be one of "
                '{"sum", "mul", "ave", "concat", None}'
            )
        super().__init__(**kwargs)
        config = layer.get_config()
        config["name"] = "forward_" + layer.name.removeprefix("forward_")
        self.forward_layer = type(layer).from_config(config)
        if backward_layer is None:
            config = {**layer.get_config(), "go_backwards": not layer.go_backwards}
            config["name"] = "backward_" + layer.name.removeprefix("backward_")
            backward_layer = type(layer).from_config(config)
        self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. Received: "
                f"forward_layer.go_backwards {self.forward_layer.go_backwards}, "
                f"backward_layer.go_backwards={self.backward_layer.go_backwards}"
            )
        for attribute in ("return_sequences", "return_state"):
            forward, backward = (
                getattr(self.forward_layer, attribute),
                getattr(self.backward_layer, attribute),
            )
            if forward != backward:
                raise ValueError(
                    f'Forward layer and backward layer are expected to have the same value for attribute "'
                    f'{attribute}", got "{forward}" for forward layer and "{backward}" for backward layer'
                )
        for half in (self.forward_layer, self.backward_layer):
            half.zero_output_for_mask = half.return_sequences  # as Keras forces it
        self.backward_layer._outputs_in_time_order = True
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = False
        self.supports_masking = True
        self._initial_weights = weights
        self._build_shape = None

    def build(self, input_shape) -> None:
        self.forward_layer._ensure_built(input_shape)
        self.backward_layer._ensure_built(input_shape)
        self._build_shape = input_shape
        self.built = True
        if self._initial_weights:
            self.set_weights(self._initial_weights)

    def __call__(self, inputs, training=None, initial_state=None, **kwargs):
        if initial_state is not None:
            inputs = [inputs, *initial_state]
        return super().__call__(inputs, training=training, **kwargs)

    def call(self, inputs, training=None, mask=None):
        sequences, *states = inputs if isinstance(inputs, list | tuple) else [inputs]
        if isinstance(mask, list | tuple):
            mask = mask[0]
        half = len(states) // 2
        forward_inputs = [sequences, *states[:half]] if states else sequences
        backward_inputs = [sequences, *states[half:]] if states else sequences
        y = self.forward_layer(forward_inputs, training=training, mask=mask)
        y_rev = self.backward_layer(backward_inputs, training=training, mask=mask)
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.merge_mode == "concat":
            output = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            output = ops.add(y, y_rev)
        elif self.merge_mode == "ave":
            output = ops.multiply(ops.add(y, y_rev), 0.5)
        elif self.merge_mode == "mul":
            output = ops.multiply(y, y_rev)
        else:
            output = [y, y_rev]
        if self.return_state:
            return [*(output if self.merge_mode is None else [output]), *states]
        return output

    def compute_mask(self, inputs, previous_mask=None):
        mask = previous_mask[0] if isinstance(previous_mask, list | tuple) else previous_mask
        output_mask = mask if self.return_sequences else None
        outputs = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            return outputs + [None] * 2 * self.forward_layer.STATES
        return outputs if self.merge_mode is None else output_mask

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], list(shape[1:])
        if self.merge_mode == "concat":
            shape = (*shape[:-1], shape[-1] * 2)
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        if self.return_state:
            return outputs + states + states
        return outputs if self.merge_mode is None else shape

    def get_config(self) -> dict:
        from kgraph.saving.serialization import serialize_nested_layer

        config = {**super().get_config(), "merge_mode": self.merge_mode}
        config["layer"] = serialize_nested_layer(self.forward_layer, self._build_shape)
        config["backward_layer"] = serialize_nested_layer(self.backward_layer, self._build_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        from kgraph.saving.serialization import deserialize_keras_object

        config = dict(config)
        config["layer"] = deserialize_keras_object(config["layer"], custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_keras_object(config["backward_layer"], custom_objects)
        return cls(**config)

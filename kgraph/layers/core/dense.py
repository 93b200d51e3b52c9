"""Dense: `activation(inputs @ kernel + bias)`."""

from __future__ import annotations

from kgraph import activations, ops
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.layers.weight_args import add_kernel, serialize_weight_args, set_weight_args


class Dense(Layer):
    """A densely connected layer.

    Args:
        units: the output size.
        activation: activation name or function (default: none, i.e. linear).
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: initializers (default 'glorot_uniform', 'zeros').
        kernel_regularizer, bias_regularizer, activity_regularizer: penalties added to the loss.
        kernel_constraint, bias_constraint: projections applied after each optimizer step.

    Example:
        >>> layer = Dense(4, activation="relu")
        >>> layer(np.ones((2, 3), "float32")).shape
        (2, 4)
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.supports_masking = True  # a mask passes through, as in Keras
        if not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"Received an invalid value for `units`, expected a positive integer. Received: units={units}"
            )
        if lora_rank:
            raise ValueError(f"Dense '{self.name}': LoRA is not supported.")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        set_weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        set_weight_args(self, "bias", bias_initializer, bias_regularizer, bias_constraint)
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"Dense '{self.name}': the last dimension of the inputs must be defined, received "
                f"input_shape={input_shape}."
            )
        self.kernel = add_kernel(self, (input_dim, self.units), "kernel", "kernel")
        self.bias = add_kernel(self, (self.units,), "bias", "bias") if self.use_bias else None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_dim})
        self.built = True

    def call(self, inputs):
        y = ops.matmul(inputs, self.kernel)  # on rank > 2 inputs, the last axis is contracted
        if self.use_bias:
            y = ops.add(y, self.bias)
        return self.activation(y) if self.activation is not None else y

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **serialize_weight_args(self, "kernel"),
            **serialize_weight_args(self, "bias"),
        }

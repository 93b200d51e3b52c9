"""What every convolution layer shares: its spatial arguments, the bias and activation, the data format.

A convolution layer computes channels last (`kgraph.ops.nn`); the bias and the activation are added to the
GEMM's result before any transpose back to channels_first, so they run in the GEMM's epilogue.
"""

from __future__ import annotations

from kgraph import activations, constraints, initializers, ops, regularizers
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.layers.weight_args import serialize_optional
from kgraph.ops.nn import channels_first_shape, from_channels_last, standardize_padding, to_channels_last
from kgraph.utils.argument_validation import standardize_data_format, standardize_tuple


class BaseConv(Layer):
    """The arguments and helpers common to Conv, ConvTranspose, DepthwiseConv and SeparableConv layers.

    Subclasses create their kernels in `build` (calling `build_bias`), compute channels last in
    `convolve`, and give their output shape in `channels_last_output_shape`.
    """

    def __init__(
        self,
        rank: int,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        bias_initializer="zeros",
        bias_regularizer=None,
        activity_regularizer=None,
        bias_constraint=None,
        allow_causal: bool = False,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.rank = rank
        self.kernel_size = self._tuple(kernel_size, "kernel_size")
        self.strides = self._tuple(strides, "strides")
        self.dilation_rate = self._tuple(dilation_rate, "dilation_rate")
        try:
            self.padding = standardize_padding(padding, allow_causal=allow_causal)
            self.data_format = standardize_data_format(data_format)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__} '{self.name}': {err}") from None
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)
        self.input_spec = InputSpec(ndim=rank + 2)
        self.bias = None

    def _tuple(self, value, name: str, allow_zero: bool = False) -> tuple[int, ...]:
        try:
            return standardize_tuple(value, self.rank, name, allow_zero=allow_zero)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__} '{self.name}': {err}") from None

    def check_positive(self, value, name: str) -> None:
        if not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': invalid value for argument `{name}`. Expected a "
                f"strictly positive integer. Received {name}={value}."
            )

    def input_channels(self, input_shape) -> int:
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the channel dimension of the inputs must be defined, "
                f"received input_shape={tuple(input_shape)}."
            )
        axis = -1 if self.data_format == "channels_last" else 1
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={axis: channels})
        return channels

    def build_bias(self, size: int) -> None:
        if self.use_bias:
            self.bias = self.add_weight(
                (size,),
                self.bias_initializer,
                name="bias",
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def convolve(self, x):
        raise NotImplementedError

    def channels_last_output_shape(self, input_shape) -> tuple:
        raise NotImplementedError

    def call(self, inputs):
        y = self.convolve(to_channels_last(inputs, self.data_format))
        if self.use_bias:
            y = ops.add(y, self.bias)
        if self.activation is not None:
            y = self.activation(y)
        return from_channels_last(y, self.data_format)

    def compute_output_shape(self, input_shape):
        shape = self.channels_last_output_shape(
            tuple(input_shape)
            if self.data_format == "channels_last"
            else (input_shape[0], *input_shape[2:], input_shape[1])
        )
        return channels_first_shape(shape, self.data_format)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "bias_regularizer": serialize_optional(regularizers, self.bias_regularizer),
            "activity_regularizer": serialize_optional(regularizers, self.activity_regularizer),
            "bias_constraint": serialize_optional(constraints, self.bias_constraint),
        }

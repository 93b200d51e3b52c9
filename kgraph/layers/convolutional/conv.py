"""Conv1D and Conv2D: patches (im2col) and one GEMM whose epilogue adds the bias and the activation."""

from __future__ import annotations

from kgraph.layers.convolutional.base_conv import BaseConv
from kgraph.layers.weight_args import add_kernel, serialize_weight_args, set_weight_args
from kgraph.ops.nn import conv_channels_last, windowed_shape


class Conv(BaseConv):
    """An N-D convolution layer (Keras's BaseConv): `activation(conv(inputs, kernel) + bias)`.

    Args:
        rank: the number of spatial axes (1 or 2).
        filters: the number of output channels.
        kernel_size: an int or a tuple of `rank` ints.
        strides: an int or a tuple of `rank` ints (default 1); strides > 1 exclude dilation_rate > 1.
        padding: 'valid', 'same' (output size ceil(input / stride)), or 'causal' (Conv1D only).
        data_format: 'channels_last' (default) or 'channels_first'.
        dilation_rate: the spacing of the kernel's taps.
        groups: the input channels split into this many groups, each convolved with filters / groups filters.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
            activity_regularizer, kernel_constraint, bias_constraint: as for Dense.

    The kernel has shape (*kernel_size, input_channels // groups, filters), as in Keras.

    Raises:
        ValueError: naming the layer, for invalid arguments or inputs.
    """

    def __init__(
        self,
        rank: int,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
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
        lora_alpha=None,
        **kwargs,
    ):
        super().__init__(
            rank,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            bias_initializer=bias_initializer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            bias_constraint=bias_constraint,
            allow_causal=rank == 1,
            **kwargs,
        )
        if lora_rank:
            raise ValueError(f"{type(self).__name__} '{self.name}': LoRA is not supported.")
        self.check_positive(filters, "filters")
        self.check_positive(groups, "groups")
        if filters % groups:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the number of filters must be evenly divisible by the "
                f"number of groups. Received: groups={groups}, filters={filters}."
            )
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': `strides > 1` not supported in conjunction with "
                f"`dilation_rate > 1`. Received: strides={self.strides} and "
                f"dilation_rate={self.dilation_rate}"
            )
        self.filters, self.groups = filters, groups
        set_weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        self.kernel = None

    def build(self, input_shape) -> None:
        channels = self.input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': the number of input channels must be evenly divisible "
                f"by the number of groups. Received groups={self.groups}, but the input has {channels} "
                f"channels (full input shape is {tuple(input_shape)})."
            )
        self.compute_output_shape(input_shape)
        shape = (*self.kernel_size, channels // self.groups, self.filters)
        self.kernel = add_kernel(self, shape, "kernel", "kernel")
        self.build_bias(self.filters)
        self.built = True

    def convolve(self, x):
        return conv_channels_last(x, self.kernel, self.strides, self.padding, self.dilation_rate)

    def channels_last_output_shape(self, input_shape) -> tuple:
        return windowed_shape(
            input_shape,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            self.filters,
            f"{type(self).__name__} '{self.name}'",
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "groups": self.groups,
            **serialize_weight_args(self, "kernel"),
        }


class Conv1D(Conv):
    """1D convolution over (batch, steps, channels) inputs; padding may also be 'causal'.

    Example:
        >>> Conv1D(4, 3, padding="causal")(np.ones((2, 10, 3), "float32")).shape
        (2, 10, 4)
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", **kwargs):
        super().__init__(1, filters, kernel_size, strides=strides, padding=padding, **kwargs)


class Conv2D(Conv):
    """2D convolution over (batch, height, width, channels) inputs.

    Example:
        >>> Conv2D(8, 3, activation="relu")(np.ones((2, 28, 28, 1), "float32")).shape
        (2, 26, 26, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", **kwargs):
        super().__init__(2, filters, kernel_size, strides=strides, padding=padding, **kwargs)

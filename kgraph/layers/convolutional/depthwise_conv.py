"""DepthwiseConv1D and DepthwiseConv2D: each input channel convolved with its own filters."""

from __future__ import annotations

from kgraph.layers.convolutional.base_conv import BaseConv
from kgraph.layers.weight_args import add_kernel, serialize_weight_args, set_weight_args
from kgraph.ops.nn import depthwise_conv_channels_last, windowed_shape


class DepthwiseConv(BaseConv):
    """A depthwise convolution layer: output channel c * depth_multiplier + m filters input channel c only.

    Args:
        rank: the number of spatial axes (1 or 2).
        kernel_size, strides, padding ('valid' or 'same'), data_format, dilation_rate, activation, use_bias:
            as for Conv2D.
        depth_multiplier: filters per input channel (default 1).
        depthwise_initializer, depthwise_regularizer, depthwise_constraint: for the kernel of shape
            (*kernel_size, input_channels, depth_multiplier).
        bias_initializer, bias_regularizer, activity_regularizer, bias_constraint: as for Conv2D.
    """

    def __init__(
        self,
        rank: int,
        depth_multiplier,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        bias_constraint=None,
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
            **kwargs,
        )
        self.check_positive(depth_multiplier, "depth_multiplier")
        self.depth_multiplier = depth_multiplier
        set_weight_args(self, "depthwise", depthwise_initializer, depthwise_regularizer, depthwise_constraint)
        self.kernel = None

    def build(self, input_shape) -> None:
        channels = self.input_channels(input_shape)
        self.compute_output_shape(input_shape)
        shape = (*self.kernel_size, channels, self.depth_multiplier)
        self.kernel = add_kernel(self, shape, "depthwise", "kernel")
        self.build_bias(channels * self.depth_multiplier)
        self.built = True

    def convolve(self, x):
        return depthwise_conv_channels_last(x, self.kernel, self.strides, self.padding, self.dilation_rate)

    def channels_last_output_shape(self, input_shape) -> tuple:
        channels = None if input_shape[-1] is None else input_shape[-1] * self.depth_multiplier
        return windowed_shape(
            input_shape,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            channels,
            f"{type(self).__name__} '{self.name}'",
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            **serialize_weight_args(self, "depthwise"),
        }


class DepthwiseConv1D(DepthwiseConv):
    """1D depthwise convolution over (batch, steps, channels) inputs."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, **kwargs):
        super().__init__(1, depth_multiplier, kernel_size, strides=strides, padding=padding, **kwargs)


class DepthwiseConv2D(DepthwiseConv):
    """2D depthwise convolution over (batch, height, width, channels) inputs.

    Example:
        >>> DepthwiseConv2D(3, depth_multiplier=2)(np.ones((2, 8, 8, 3), "float32")).shape
        (2, 6, 6, 6)
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, **kwargs):
        super().__init__(2, depth_multiplier, kernel_size, strides=strides, padding=padding, **kwargs)

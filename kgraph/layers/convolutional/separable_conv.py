"""SeparableConv1D and SeparableConv2D: a depthwise convolution, then a 1x1 convolution (one GEMM)."""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.convolutional.base_conv import BaseConv
from kgraph.layers.weight_args import add_kernel, serialize_weight_args, set_weight_args
from kgraph.ops.nn import depthwise_conv_channels_last, windowed_shape


class SeparableConv(BaseConv):
    """A depthwise-separable convolution layer.

    Args:
        rank: the number of spatial axes (1 or 2).
        depth_multiplier: depthwise filters per input channel.
        filters: output channels of the pointwise (1x1) convolution.
        kernel_size, strides, padding ('valid' or 'same'), data_format, dilation_rate, activation, use_bias:
            as for Conv2D.
        depthwise_*, pointwise_*: initializer, regularizer and constraint of the depthwise kernel
            (*kernel_size, channels, depth_multiplier) and the pointwise kernel
            (1, ..., channels * depth_multiplier, filters).
        bias_initializer, bias_regularizer, activity_regularizer, bias_constraint: as for Conv2D.
    """

    def __init__(
        self,
        rank: int,
        depth_multiplier,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        depthwise_initializer="glorot_uniform",
        pointwise_initializer="glorot_uniform",
        bias_initializer="zeros",
        depthwise_regularizer=None,
        pointwise_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        depthwise_constraint=None,
        pointwise_constraint=None,
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
        self.check_positive(filters, "filters")
        self.depth_multiplier, self.filters = depth_multiplier, filters
        set_weight_args(self, "depthwise", depthwise_initializer, depthwise_regularizer, depthwise_constraint)
        set_weight_args(self, "pointwise", pointwise_initializer, pointwise_regularizer, pointwise_constraint)
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape) -> None:
        channels = self.input_channels(input_shape)
        self.compute_output_shape(input_shape)
        width = channels * self.depth_multiplier
        depthwise = (*self.kernel_size, channels, self.depth_multiplier)
        self.depthwise_kernel = add_kernel(self, depthwise, "depthwise", "depthwise_kernel")
        pointwise = (*(1,) * self.rank, width, self.filters)
        self.pointwise_kernel = add_kernel(self, pointwise, "pointwise", "pointwise_kernel")
        self.build_bias(self.filters)
        self.built = True

    def convolve(self, x):
        y = depthwise_conv_channels_last(
            x, self.depthwise_kernel, self.strides, self.padding, self.dilation_rate
        )
        width = ops.shape(self.pointwise_kernel)[-2]
        return ops.matmul(y, ops.reshape(self.pointwise_kernel, (width, self.filters)))

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
            "depth_multiplier": self.depth_multiplier,
            "filters": self.filters,
            **serialize_weight_args(self, "depthwise"),
            **serialize_weight_args(self, "pointwise"),
        }


class SeparableConv1D(SeparableConv):
    """1D separable convolution over (batch, steps, channels) inputs."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1, **kwargs):
        super().__init__(
            1, depth_multiplier, filters, kernel_size, strides=strides, padding=padding, **kwargs
        )


class SeparableConv2D(SeparableConv):
    """2D separable convolution over (batch, height, width, channels) inputs.

    Example:
        >>> SeparableConv2D(8, 3)(np.ones((2, 8, 8, 3), "float32")).shape
        (2, 6, 6, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, **kwargs):
        super().__init__(
            2, depth_multiplier, filters, kernel_size, strides=strides, padding=padding, **kwargs
        )

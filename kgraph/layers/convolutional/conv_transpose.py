"""Conv1DTranspose and Conv2DTranspose: a GEMM spreads each input pixel over a patch, col2im sums them."""

from __future__ import annotations

from kgraph.layers.convolutional.base_conv import BaseConv
from kgraph.layers.weight_args import add_kernel, serialize_weight_args, set_weight_args
from kgraph.ops.nn import conv_transpose_channels_last, conv_transpose_output_size


class ConvTranspose(BaseConv):
    """A transposed convolution (a convolution's gradient with respect to its input), sized as Keras does.

    Args:
        rank: the number of spatial axes (1 or 2).
        filters: the number of output channels.
        kernel_size, strides, dilation_rate: ints or tuples of `rank` ints.
        padding: 'valid' (output (input - 1) * stride + max(kernel, stride)) or 'same' (input * stride).
        output_padding: extra output rows/columns per axis (each below the stride), or None.
        data_format, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as for Conv2D.

    The kernel has shape (*kernel_size, filters, input_channels), as in Keras.
    """

    def __init__(
        self,
        rank: int,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        output_padding=None,
        data_format=None,
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
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
        self.check_positive(filters, "filters")
        self.filters = filters
        self.output_padding = (
            None if output_padding is None else self._tuple(output_padding, "output_padding", allow_zero=True)
        )
        for extra, stride in zip(self.output_padding or self.strides, self.strides, strict=True):
            if self.output_padding is not None and extra >= stride:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': strides must be greater than output padding. "
                    f"Received strides={self.strides}, output_padding={self.output_padding}."
                )
        set_weight_args(self, "kernel", kernel_initializer, kernel_regularizer, kernel_constraint)
        self.kernel = None

    def build(self, input_shape) -> None:
        channels = self.input_channels(input_shape)
        self.kernel = add_kernel(self, (*self.kernel_size, self.filters, channels), "kernel", "kernel")
        self.build_bias(self.filters)
        self.built = True

    def convolve(self, x):
        return conv_transpose_channels_last(
            x, self.kernel, self.strides, self.padding, self.output_padding, self.dilation_rate
        )

    def channels_last_output_shape(self, input_shape) -> tuple:
        spatial = [
            conv_transpose_output_size(
                size, k, s, d, self.padding, None if self.output_padding is None else self.output_padding[i]
            )
            for i, (size, k, s, d) in enumerate(
                zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, strict=True)
            )
        ]
        return (input_shape[0], *spatial, self.filters)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "output_padding": self.output_padding,
            **serialize_weight_args(self, "kernel"),
        }


class Conv1DTranspose(ConvTranspose):
    """1D transposed convolution over (batch, steps, channels) inputs."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", **kwargs):
        super().__init__(1, filters, kernel_size, strides=strides, padding=padding, **kwargs)


class Conv2DTranspose(ConvTranspose):
    """2D transposed convolution (a learned upsampling) over (batch, height, width, channels) inputs.

    Example:
        >>> Conv2DTranspose(4, 3, strides=2, padding="same")(np.ones((2, 7, 7, 8), "float32")).shape
        (2, 14, 14, 4)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", **kwargs):
        super().__init__(2, filters, kernel_size, strides=strides, padding=padding, **kwargs)

"""Convolution and pooling composed from IR ops: Keras's `ops.conv`, `ops.max_pool` and their relatives.

A convolution is `patches` (im2col) followed by one `matmul` with the kernel viewed as
(prod(kernel_size) * channels, filters), so the bias and the activation a layer adds run in the GEMM's
epilogue, and the kernel's gradient is one GEMM over the patches. A 1x1, stride-1 convolution needs no
patches.
A transposed convolution is the data gradient of a convolution: a GEMM, then `patches_grad` (col2im).

The `*_channels_last` functions take and give channels-last values; the layers use them so that the bias and
activation apply before any transpose back to channels_first (where they fuse into the GEMM).
"""

from __future__ import annotations

import math

from kgraph.ir.ops.window import output_size
from kgraph.ops import array_ops as ops
from kgraph.ops.dispatch import apply_op
from kgraph.utils.argument_validation import standardize_data_format, standardize_tuple


def standardize_padding(padding, allow_causal: bool = False) -> str:
    """`padding` lowercased and checked: 'valid' or 'same' (or 'causal' where `allow_causal`)."""
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    value = str(padding).lower()
    if value not in allowed:
        raise ValueError(f"The `padding` argument must be one of {allowed}. Received: padding={padding}")
    return value


def padding_amounts(spatial, window, strides, dilation, padding: str) -> tuple[tuple[int, int], ...]:
    """(before, after) per spatial axis for Keras's padding modes ('same' pads as XLA: odd extra after)."""
    amounts = []
    for size, k, s, d in zip(spatial, window, strides, dilation, strict=True):
        span = (k - 1) * d + 1
        if padding == "valid":
            amounts.append((0, 0))
        elif padding == "causal":
            amounts.append((span - 1, 0))
        else:
            total = max((-(-size // s) - 1) * s + span - size, 0)
            amounts.append((total // 2, total - total // 2))
    return tuple(amounts)


def windowed_shape(input_shape, window, strides, dilation, padding: str, channels: int, owner: str) -> tuple:
    """The channels-last output shape of a window op over `input_shape` (channels last).

    Raises:
        ValueError: naming `owner` when the window leaves no output positions.
    """
    spatial = tuple(input_shape[1:-1])
    if None in spatial:
        return (input_shape[0], *(None for _ in spatial), channels)
    pads = padding_amounts(spatial, window, strides, dilation, padding)
    out = tuple(
        output_size(n, k, s, d, *p)
        for n, k, s, d, p in zip(spatial, window, strides, dilation, pads, strict=True)
    )
    if min(out) <= 0:
        raise ValueError(
            f"{owner}: computed output size would be negative or zero: {out}. Received inputs shape="
            f"{tuple(input_shape)}, window={tuple(window)}, strides={tuple(strides)}, "
            f"dilation_rate={tuple(dilation)}, padding={padding!r}."
        )
    return (input_shape[0], *out, channels)


def to_channels_last(x, data_format: str):
    if data_format == "channels_last":
        return x
    rank = ops.ndim(x)
    return ops.transpose(x, (0, *range(2, rank), 1))


def from_channels_last(x, data_format: str):
    if data_format == "channels_last":
        return x
    rank = ops.ndim(x)
    return ops.transpose(x, (0, rank - 1, *range(1, rank - 1)))


def channels_last_shape(shape, data_format: str) -> tuple:
    shape = tuple(shape)
    return shape if data_format == "channels_last" else (shape[0], *shape[2:], shape[1])


def channels_first_shape(shape, data_format: str) -> tuple:
    shape = tuple(shape)
    return shape if data_format == "channels_last" else (shape[0], shape[-1], *shape[1:-1])


def _slice_last(x, start: int, stop: int):
    return apply_op("slice", x, axis=ops.ndim(x) - 1, start=start, stop=stop)


def _patches(x, window, strides, dilation, pads):
    if all(k == 1 for k in window) and all(s == 1 for s in strides) and not any(map(any, pads)):
        return x  # a 1x1 window: every pixel is its own patch
    return apply_op("patches", x, window=window, strides=strides, dilation=dilation, padding=pads)


def conv_channels_last(x, kernel, strides, padding: str, dilation) -> object:
    """Convolution of channels-last `x` with `kernel` (*window, channels // groups, filters)."""
    nd = ops.ndim(x) - 2
    window, (cin, filters) = tuple(ops.shape(kernel)[:nd]), ops.shape(kernel)[nd:]
    channels = ops.shape(x)[-1]
    if channels % cin:
        raise ValueError(
            f"conv: the input's {channels} channels are not a multiple of the kernel's {cin} input channels "
            f"(kernel shape {tuple(ops.shape(kernel))})."
        )
    groups = channels // cin
    if filters % groups:
        raise ValueError(f"conv: {filters} filters are not divisible into {groups} groups.")
    pads = padding_amounts(ops.shape(x)[1:-1], window, strides, dilation, padding)
    per_group = filters // groups
    outputs = []
    for g in range(groups):
        part = x if groups == 1 else _slice_last(x, g * cin, (g + 1) * cin)
        weights = kernel if groups == 1 else _slice_last(kernel, g * per_group, (g + 1) * per_group)
        cols = _patches(part, window, strides, dilation, pads)
        outputs.append(ops.matmul(cols, ops.reshape(weights, (math.prod(window) * cin, per_group))))
    return outputs[0] if groups == 1 else ops.concatenate(outputs, axis=-1)


def depthwise_conv_channels_last(x, kernel, strides, padding: str, dilation) -> object:
    """Depthwise convolution: `kernel` (*window, channels, multiplier) filters each channel on its own.

    The patches viewed as (..., taps, channels, 1) times the kernel viewed as (taps, channels, multiplier),
    summed over the taps; output channel c * multiplier + m, as Keras orders them.
    """
    nd = ops.ndim(x) - 2
    window, (channels, multiplier) = tuple(ops.shape(kernel)[:nd]), ops.shape(kernel)[nd:]
    pads = padding_amounts(ops.shape(x)[1:-1], window, strides, dilation, padding)
    cols = _patches(x, window, strides, dilation, pads)
    out_spatial = tuple(ops.shape(cols)[1:-1])
    taps = math.prod(window)
    products = ops.multiply(
        ops.reshape(cols, (-1, *out_spatial, taps, channels, 1)),
        ops.reshape(kernel, (taps, channels, multiplier)),
    )
    return ops.reshape(ops.sum(products, axis=-3), (-1, *out_spatial, channels * multiplier))


def conv_transpose_channels_last(x, kernel, strides, padding: str, output_padding, dilation) -> object:
    """Transposed convolution of `x` with `kernel` (*window, filters, channels), sized as Keras sizes it.

    A GEMM spreads each input pixel over a patch of the output, and `patches_grad` sums the patches into
    place. The patch offset follows Keras on JAX: jax.lax.conv_transpose's left padding `pl` places tap t of
    input i at output `i * stride + t * dilation - (span - 1 - pl)`.
    """
    nd = ops.ndim(x) - 2
    window, (filters, channels) = tuple(ops.shape(kernel)[:nd]), ops.shape(kernel)[nd:]
    spatial = ops.shape(x)[1:-1]
    out_spatial, pads = [], []
    for i, (size, k, s, d) in enumerate(zip(spatial, window, strides, dilation, strict=True)):
        extra = None if output_padding is None else output_padding[i]
        left, out = _transpose_geometry(size, k, s, d, padding, extra)
        span = (k - 1) * d + 1
        before = span - 1 - left
        out_spatial.append(out)
        pads.append((before, (size - 1) * s + span - out - before))
    spread = apply_op(
        "matmul", x, ops.reshape(kernel, (math.prod(window) * filters, channels)), transpose_b=True
    )
    return apply_op(
        "patches_grad",
        spread,
        window=window,
        strides=tuple(strides),
        dilation=tuple(dilation),
        padding=tuple(pads),
        spatial=tuple(out_spatial),
    )


def _transpose_geometry(size: int, k: int, s: int, d: int, padding: str, output_padding) -> tuple[int, int]:
    """(left padding of jax.lax.conv_transpose, output size) for one axis, as Keras computes them on JAX."""
    span = (k - 1) * d + 1
    if padding == "valid":
        extra = max(span, s) - span if output_padding is None else output_padding
        return span - 1, (size - 1) * s + span + extra
    if output_padding is None:
        pad_len, out = s + span - 2, size * s
    else:
        pad_len, out = span + span % 2 - 2 + output_padding, (size - 1) * s + span % 2 + output_padding
    return min(pad_len // 2 + pad_len % 2, span - 1), out


def conv_transpose_output_size(size, k, s, d, padding, output_padding) -> int | None:
    return None if size is None else _transpose_geometry(size, k, s, d, padding, output_padding)[1]


def pool_channels_last(x, mode: str, pool_size, strides, padding: str):
    pads = padding_amounts(ops.shape(x)[1:-1], pool_size, strides, (1,) * len(pool_size), padding)
    op = "max_pool" if mode == "max" else "avg_pool"
    return apply_op(op, x, window=tuple(pool_size), strides=tuple(strides), padding=pads)


# --- Keras's functional forms (kgraph.ops) ------------------------------------------------------------
def _spatial_args(x, data_format, strides, dilation_rate):
    data_format = standardize_data_format(data_format)
    nd = ops.ndim(x) - 2
    return (
        data_format,
        nd,
        standardize_tuple(strides, nd, "strides"),
        standardize_tuple(dilation_rate, nd, "dilation_rate"),
    )


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (1D or 2D); `kernel` is (*kernel_size, channels // groups, filters), as in Keras.

    Example:
        >>> ops.conv(np.ones((1, 5, 5, 3), "float32"), np.ones((3, 3, 3, 8), "float32")).shape
        (1, 3, 3, 8)
    """
    data_format, _, strides, dilation = _spatial_args(inputs, data_format, strides, dilation_rate)
    x = to_channels_last(inputs, data_format)
    y = conv_channels_last(x, kernel, strides, standardize_padding(padding), dilation)
    return from_channels_last(y, data_format)


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise convolution; `kernel` is (*kernel_size, channels, depth_multiplier)."""
    data_format, _, strides, dilation = _spatial_args(inputs, data_format, strides, dilation_rate)
    x = to_channels_last(inputs, data_format)
    y = depthwise_conv_channels_last(x, kernel, strides, standardize_padding(padding), dilation)
    return from_channels_last(y, data_format)


def separable_conv(
    inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None, dilation_rate=1
):
    """A depthwise convolution followed by a 1x1 convolution with `pointwise_kernel` (1.., C * m, filters)."""
    data_format, _, strides, dilation = _spatial_args(inputs, data_format, strides, dilation_rate)
    x = to_channels_last(inputs, data_format)
    y = depthwise_conv_channels_last(x, depthwise_kernel, strides, standardize_padding(padding), dilation)
    width, filters = ops.shape(pointwise_kernel)[-2:]
    return from_channels_last(ops.matmul(y, ops.reshape(pointwise_kernel, (width, filters))), data_format)


def conv_transpose(
    inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None, dilation_rate=1
):
    """Transposed convolution; `kernel` is (*kernel_size, filters, channels), as in Keras."""
    data_format, nd, strides, dilation = _spatial_args(inputs, data_format, strides, dilation_rate)
    if output_padding is not None:
        output_padding = standardize_tuple(output_padding, nd, "output_padding", allow_zero=True)
    x = to_channels_last(inputs, data_format)
    y = conv_transpose_channels_last(
        x, kernel, strides, standardize_padding(padding), output_padding, dilation
    )
    return from_channels_last(y, data_format)


def _pool(mode, inputs, pool_size, strides, padding, data_format):
    data_format = standardize_data_format(data_format)
    nd = ops.ndim(inputs) - 2
    pool_size = standardize_tuple(pool_size, nd, "pool_size")
    strides = pool_size if strides is None else standardize_tuple(strides, nd, "strides")
    x = to_channels_last(inputs, data_format)
    y = pool_channels_last(x, mode, pool_size, strides, standardize_padding(padding))
    return from_channels_last(y, data_format)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over windows of `pool_size` (strides default to the pool size)."""
    return _pool("max", inputs, pool_size, strides, padding, data_format)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling; with padding 'same' each window averages its real (unpadded) entries only."""
    return _pool("average", inputs, pool_size, strides, padding, data_format)

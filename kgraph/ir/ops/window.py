"""Sliding-window ops, channels last: image patches (im2col) and pooling, each with its gradient.

Every op reads a value of shape (B, *spatial, C) through windows of `window` elements per spatial axis, placed
every `strides` elements, taps `dilation` apart, after `padding` ((before, after) per axis) virtual elements
around the input. Padded taps read zero (patches, average) or are skipped (max); an average divides by the
number of real taps, as Keras on JAX does for padding 'same'.

    patches        (B, *S, C) -> (B, *O, prod(window) * C), features ordered (*window, C): a convolution
                   is then one GEMM with the kernel viewed as (prod(window) * C, filters)
    patches_grad   its adjoint (col2im): sums each patch back onto the taps it read; also the forward pass
                   of a transposed convolution
    max_pool       (B, *S, C) -> (B, *O, C); its gradient max_pool_grad(x, g) routes each window's gradient
                   to the window's first maximum (JAX's select-and-scatter)
    avg_pool       (B, *S, C) -> (B, *O, C); avg_pool_grad is its adjoint, and the other way round

All are opaque ops: a window reads across rows and columns, which no fused rows x columns loop can express.
The CPU kernels see one or two spatial axes as two (a 1D input is a 2D input of height 1).
"""

from __future__ import annotations

import math
import re

import numpy as np

from kgraph.codegen.decorators import JIT, PARALLEL_JIT, ZERO_OUT, blocks_source
from kgraph.ir.builder import emit
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, element_count_source, format_shape

_GEOMETRY = ("window", "strides", "dilation", "padding")


def output_size(size: int, window: int, stride: int, dilation: int, before: int, after: int) -> int:
    """Windows along one axis of `size` elements (floor division, as XLA's reduce_window and conv count)."""
    return (size + before + after - (window - 1) * dilation - 1) // stride + 1


def geometry(attrs) -> tuple:
    window = tuple(attrs["window"])
    return (
        window,
        tuple(attrs.get("strides", (1,) * len(window))),
        tuple(attrs.get("dilation", (1,) * len(window))),
        tuple(tuple(p) for p in attrs.get("padding", ((0, 0),) * len(window))),
    )


def _windowed_shape(spatial, attrs) -> tuple:
    window, strides, dilation, padding = geometry(attrs)
    return tuple(
        output_size(s, k, st, d, *p)
        for s, k, st, d, p in zip(spatial, window, strides, dilation, padding, strict=True)
    )


def _check_input(t: TensorType, attrs, origin, op: str) -> tuple:
    """The output spatial shape of `op` over input type `t`; raises naming `origin` when it cannot run."""
    window = geometry(attrs)[0]
    spatial = tuple(t.shape[1:-1])
    if t.rank != len(window) + 2 or None in spatial or t.shape[-1] is None:
        raise infer_error(
            origin,
            f"{op} over a {len(window)}D window expects an input of rank {len(window) + 2} "
            f"(batch, *spatial, channels) with static spatial axes; received {format_shape(t.shape)}.",
        )
    out = _windowed_shape(spatial, attrs)
    if min(out) <= 0:
        raise infer_error(
            origin,
            f"{op} with window {window} leaves no output positions for an input of shape "
            f"{format_shape(t.shape)} (computed output size would be {out}).",
        )
    return out


def _check_adjoint(g: TensorType, attrs, origin, op: str, channels: int) -> tuple:
    """The output shape of an adjoint op: `g` must be what the forward op makes of that output."""
    spatial = tuple(attrs["spatial"])
    expected = (g.shape[0], *_windowed_shape(spatial, attrs), channels)
    if tuple(g.shape) != expected:
        raise infer_error(
            origin,
            f"{op} expects a value of shape {format_shape(expected)} for spatial shape {spatial}; received "
            f"{format_shape(g.shape)}.",
        )
    return (g.shape[0], *spatial)


# --- numpy references: every window gathered at once with one fancy index ----------------------------
def _taps(spatial, attrs):
    """(index, mask): an index reading x[b, *taps, c] as (B, *O, *window, C), and which taps are real."""
    window, strides, dilation, padding = geometry(attrs)
    out = _windowed_shape(spatial, attrs)
    nd = len(window)
    index, mask = [slice(None)], np.ones((1,) * (2 * nd), bool)
    for d in range(nd):
        taps = np.arange(out[d])[:, None] * strides[d] - padding[d][0] + np.arange(window[d]) * dilation[d]
        shape = [1] * (2 * nd)
        shape[d], shape[nd + d] = out[d], window[d]
        index.append(np.clip(taps, 0, spatial[d] - 1).reshape(shape))
        mask = mask & ((taps >= 0) & (taps < spatial[d])).reshape(shape)
    return tuple(index), mask[None, ..., None]


def _windows(x, attrs, fill):
    index, mask = _taps(x.shape[1:-1], attrs)
    return np.where(mask, x[index], fill), mask


def _scatter(values, index, spatial, like):
    out = np.zeros((values.shape[0], *spatial, values.shape[-1]), like.dtype)
    np.add.at(out, index, values)
    return out


def _window_axes(attrs) -> tuple:
    nd = len(attrs["window"])
    return tuple(range(1 + nd, 1 + 2 * nd))


def _patches_reference(xs, at, ctx):
    (x,) = xs
    windows, _ = _windows(x, at, 0)
    return windows.reshape(*windows.shape[: 1 + len(at["window"])], -1)


def _patches_grad_reference(xs, at, ctx):
    (g,) = xs
    spatial, window = tuple(at["spatial"]), tuple(at["window"])
    index, mask = _taps(spatial, at)
    channels = g.shape[-1] // math.prod(window)
    values = g.reshape(*g.shape[:-1], *window, channels) * mask
    return _scatter(values, index, spatial, g)


def _max_pool_reference(xs, at, ctx):
    windows, _ = _windows(xs[0], at, -np.inf)
    return windows.max(axis=_window_axes(at))


def _first_max_one_hot(x, at):
    windows, _ = _windows(x, at, -np.inf)
    nd = len(at["window"])
    flat = windows.reshape(*windows.shape[: 1 + nd], -1, windows.shape[-1])
    first = flat.argmax(axis=-2)
    one_hot = np.arange(flat.shape[-2])[:, None] == first[..., None, :]
    return one_hot.reshape(windows.shape)


def _max_pool_grad_reference(xs, at, ctx):
    x, g = xs
    index, _ = _taps(x.shape[1:-1], at)
    nd = len(at["window"])
    g_taps = np.expand_dims(g, tuple(range(1 + nd, 1 + 2 * nd)))
    return _scatter(_first_max_one_hot(x, at) * g_taps, index, x.shape[1:-1], x)


def _counts(spatial, at):
    _, mask = _taps(spatial, at)
    return mask.sum(axis=_window_axes(at))


def _avg_pool_reference(xs, at, ctx):
    (x,) = xs
    windows, _ = _windows(x, at, 0)
    return (windows.sum(axis=_window_axes(at)) / _counts(x.shape[1:-1], at)).astype(x.dtype)


def _avg_pool_grad_reference(xs, at, ctx):
    (g,) = xs
    spatial = tuple(at["spatial"])
    index, mask = _taps(spatial, at)
    shared = np.expand_dims(g / _counts(spatial, at), _window_axes(at)) * mask
    return _scatter(shared.astype(g.dtype), index, spatial, g)


# --- shape rules and gradients -----------------------------------------------------------------------
def _geometry_attrs(at) -> dict:
    return {k: at[k] for k in _GEOMETRY if k in at}


def _patches_infer(types, attrs, origin):
    (x,) = types
    out = _check_input(x, attrs, origin, "patches")
    return TensorType((x.shape[0], *out, math.prod(attrs["window"]) * x.shape[-1]), "float32")


def _patches_grad_infer(types, attrs, origin):
    (g,) = types
    window = math.prod(attrs["window"])
    if g.shape[-1] is None or g.shape[-1] % window:
        raise infer_error(
            origin, f"patches_grad expects features a multiple of {window}; received {format_shape(g.shape)}."
        )
    channels = g.shape[-1] // window
    return TensorType((*_check_adjoint(g, attrs, origin, "patches_grad", g.shape[-1]), channels), "float32")


def _pool_infer(types, attrs, origin):
    x = types[0]
    out = _check_input(x, attrs, origin, "pooling")
    return TensorType((x.shape[0], *out, x.shape[-1]), "float32")


def _max_pool_grad_infer(types, attrs, origin):
    x, g = types
    expected = _pool_infer([x], attrs, origin)
    if tuple(g.shape) != tuple(expected.shape):
        raise infer_error(
            origin,
            f"max_pool_grad expects a gradient of shape {format_shape(expected.shape)}; received "
            f"{format_shape(g.shape)}.",
        )
    return TensorType(x.shape, "float32")


def _avg_pool_grad_infer(types, attrs, origin):
    (g,) = types
    return TensorType(
        (*_check_adjoint(g, attrs, origin, "avg_pool_grad", g.shape[-1]), g.shape[-1]), "float32"
    )


def _patches_grad(x, y, g, at):
    return [emit("patches_grad", g, spatial=tuple(x[0].shape[1:-1]), **_geometry_attrs(at))]


def _patches_grad_grad(x, y, g, at):
    return [emit("patches", g, **_geometry_attrs(at))]


def _max_pool_grad(x, y, g, at):
    return [emit("max_pool_grad", x[0], g, **_geometry_attrs(at))]


def _avg_pool_grad(x, y, g, at):
    return [emit("avg_pool_grad", g, spatial=tuple(x[0].shape[1:-1]), **_geometry_attrs(at))]


def _avg_pool_grad_grad(x, y, g, at):
    return [emit("avg_pool", g, **_geometry_attrs(at))]


# --- CPU kernels ---------------------------------------------------------------------------------------
class _Plan:
    """The constants a CPU kernel inlines, with one spatial axis lifted to two (height 1)."""

    def __init__(self, spatial, channels: int, attrs):
        window, strides, dilation, padding = geometry(attrs)
        out = _windowed_shape(spatial, attrs)
        lift = len(window) == 1
        self.H, self.W = (1, spatial[0]) if lift else spatial
        self.OH, self.OW = (1, out[0]) if lift else out
        self.KH, self.KW = (1, window[0]) if lift else window
        self.SH, self.SW = (1, strides[0]) if lift else strides
        self.DH, self.DW = (1, dilation[0]) if lift else dilation
        self.PT, self.PL = (0, padding[0][0]) if lift else (padding[0][0], padding[1][0])
        self.C = channels

    def image(self, batch, channels=None) -> tuple:
        return (batch, self.H, self.W, self.C if channels is None else channels)

    def grid(self, batch, channels=None) -> tuple:
        return (batch, self.OH, self.OW, self.C if channels is None else channels)

    def taps(self, body: str, indent: int = 3) -> str:
        """Loops over the taps of window (oh, ow) that fall inside the image, running `body` at (ih, iw)."""
        pad = "    " * indent
        inner = "\n".join(f"{pad}            {line}" for line in body.strip("\n").splitlines())
        return (
            f"{pad}for i in range({self.KH}):\n"
            f"{pad}    ih = oh * {self.SH} - {self.PT} + i * {self.DH}\n"
            f"{pad}    if ih < 0 or ih >= {self.H}:\n"
            f"{pad}        continue\n"
            f"{pad}    for j in range({self.KW}):\n"
            f"{pad}        iw = ow * {self.SW} - {self.PL} + j * {self.DW}\n"
            f"{pad}        if iw >= 0 and iw < {self.W}:\n"
            f"{inner}\n"
        )


_EACH_WINDOW = """    for b in range(a0.shape[0]):
        for oh in range(OH):
            for ow in range(OW):
"""


def _each_window(plan: _Plan) -> str:
    return _EACH_WINDOW.replace("OH", str(plan.OH)).replace("OW", str(plan.OW))


def _each_channel(plan: _Plan, first: str) -> str:
    """A loop over the channels of window (oh, ow), opening with `first`. Pooling kernels walk a channel's
    taps with the channel loop outside: its running value stays in a register, and the loop still vectorizes
    (max pooling 2.3-6x faster than updating `out` tap by tap, its gradient 3x)."""
    return f"                for c in range({plan.C}):\n{_indent(first, 5)}\n"


def _patches_cpu(name, shapes, out_shape, attrs):
    (x,) = shapes
    p = _Plan(x[1:-1], x[-1], attrs)
    k, row = p.KH * p.KW * p.C, p.KW * p.C
    # Flat indexing, and a window that lies inside the image copied row by row, a row of taps being one run
    # of KW adjacent pixels when not dilated: 5x faster than a copy per tap through 4-D views. Windows that
    # touch the padding go tap by tap. The batch bound comes from the view's length: bounded by `n`, LLVM
    # left the copies scalar.
    if p.DW == 1:
        inside = f"""for c in range({row}):
    out[d + c] = a0[src + c]"""
    else:
        inside = f"""for j in range({p.KW}):
    for c in range({p.C}):
        out[d + j * {p.C} + c] = a0[src + j * {p.DW * p.C} + c]"""
    window_inside = (
        f"ih0 >= 0 and ih0 + {(p.KH - 1) * p.DH} < {p.H} and iw0 >= 0 and iw0 + {(p.KW - 1) * p.DW} < {p.W}"
    )
    source = f"""def {name}(a0, out, n):
    for b in range(a0.shape[0] // {p.H * p.W * p.C}):
        for oh in range({p.OH}):
            ih0 = oh * {p.SH} - {p.PT}
            for ow in range({p.OW}):
                iw0 = ow * {p.SW} - {p.PL}
                dst = ((b * {p.OH} + oh) * {p.OW} + ow) * {k}
                if {window_inside}:
                    for i in range({p.KH}):
                        src = ((b * {p.H} + ih0 + i * {p.DH}) * {p.W} + iw0) * {p.C}
                        d = dst + i * {row}
{_indent(inside, 6)}
                else:
                    for i in range({p.KH}):
                        ih = ih0 + i * {p.DH}
                        for j in range({p.KW}):
                            iw = iw0 + j * {p.DW}
                            d = dst + (i * {p.KW} + j) * {p.C}
                            if ih >= 0 and ih < {p.H} and iw >= 0 and iw < {p.W}:
                                src = ((b * {p.H} + ih) * {p.W} + iw) * {p.C}
                                for c in range({p.C}):
                                    out[d + c] = a0[src + c]
                            else:
                                for c in range({p.C}):
                                    out[d + c] = f32(0.0)
"""
    return source, [(element_count_source(x),), (element_count_source(out_shape),)]


def _indent(text: str, depth: int) -> str:
    return "\n".join("    " * depth + line for line in text.splitlines())


def _patches_grad_cpu(name, shapes, out_shape, attrs):
    (g,) = shapes
    p = _Plan(tuple(attrs["spatial"]), out_shape[-1], attrs)
    body = f"""k = (i * {p.KW} + j) * {p.C}
for c in range({p.C}):
    out[b, ih, iw, c] += a0[b, oh, ow, k + c]"""
    source = f"def {name}(a0, out, n):\n{ZERO_OUT}{_each_window(p)}{p.taps(body, 4)}"
    return source, [p.grid(g[0], g[-1]), p.image(g[0])]


def _max_pool_cpu(name, shapes, out_shape, attrs):
    (x,) = shapes
    p = _Plan(x[1:-1], x[-1], attrs)
    # `v != v` carries a NaN through, as lax.max does.
    body = """v = a0[b, ih, iw, c]
m = v if v > m or v != v else m"""
    source = (
        f"def {name}(a0, out, n):\n{_each_window(p)}{_each_channel(p, 'm = f32(-np.inf)')}"
        f"{p.taps(body, 5)}                    out[b, oh, ow, c] = m\n"
    )
    return source, [p.image(x[0]), p.grid(x[0])]


def _max_pool_grad_cpu(name, shapes, out_shape, attrs):
    x, g = shapes
    p = _Plan(x[1:-1], x[-1], attrs)
    # For each channel of a window: find its first maximal tap (`arg`, a float32 tap number), then route the
    # gradient there.
    find = f"""t = f32(i * {p.KW} + j)
v = a0[b, ih, iw, c]
take = v > best or arg < f32(0.0)
best = v if take else best
arg = t if take else arg"""
    # Windows that never share a pixel (2 x 2 pooling, stride 2) write each of theirs once: no accumulating,
    # and no zero fill where they tile the whole image.
    apart = p.DH == p.DW == 1 and p.SH >= p.KH and p.SW >= p.KW
    route = f"""t = f32(i * {p.KW} + j)
out[b, ih, iw, c] {"=" if apart else "+="} grad if arg == t else f32(0.0)"""
    start = "best = f32(-np.inf)\narg = f32(-1.0)"
    source = (
        f"def {name}(a0, a1, out, n):\n{'' if apart and _tiled(p) else ZERO_OUT}"
        f"{_each_window(p)}{_each_channel(p, start)}"
        f"{p.taps(find, 5)}                    grad = a1[b, oh, ow, c]\n{p.taps(route, 5)}"
    )
    return source, [p.image(x[0]), p.grid(x[0]), p.image(x[0])]


def _tiled(p: _Plan) -> bool:
    """Whether the windows' taps reach every pixel of the image."""
    rows = {oh * p.SH - p.PT + i * p.DH for oh in range(p.OH) for i in range(p.KH)}
    cols = {ow * p.SW - p.PL + j * p.DW for ow in range(p.OW) for j in range(p.KW)}
    return set(range(p.H)) <= rows and set(range(p.W)) <= cols


def _real_taps_source(p: _Plan) -> str:
    """The number of real taps of window (oh, ow): rows in range times columns in range."""
    return (
        f"                rows = 0\n                for i in range({p.KH}):\n"
        f"                    ih = oh * {p.SH} - {p.PT} + i * {p.DH}\n"
        f"                    rows += 1 if ih >= 0 and ih < {p.H} else 0\n"
        f"                cols = 0\n                for j in range({p.KW}):\n"
        f"                    iw = ow * {p.SW} - {p.PL} + j * {p.DW}\n"
        f"                    cols += 1 if iw >= 0 and iw < {p.W} else 0\n"
        "                scale = f32(1.0) / f32(rows * cols)\n"
    )


def _avg_pool_cpu(name, shapes, out_shape, attrs):
    (x,) = shapes
    p = _Plan(x[1:-1], x[-1], attrs)
    source = (
        f"def {name}(a0, out, n):\n{_each_window(p)}{_real_taps_source(p)}{_each_channel(p, 's = f32(0.0)')}"
        f"{p.taps('s += a0[b, ih, iw, c]', 5)}                    out[b, oh, ow, c] = s * scale\n"
    )
    return source, [p.image(x[0]), p.grid(x[0])]


def _avg_pool_grad_cpu(name, shapes, out_shape, attrs):
    (g,) = shapes
    p = _Plan(tuple(attrs["spatial"]), g[-1], attrs)
    # Taps outside, channels inside: adding into `out` a channel at a time (as the forward pass reads) ran
    # 2.6x slower, and so did this loop with the channel count inlined.
    body = """for c in range(out.shape[3]):
    out[b, ih, iw, c] += a0[b, oh, ow, c] * scale"""
    source = f"def {name}(a0, out, n):\n{ZERO_OUT}{_each_window(p)}{_real_taps_source(p)}{p.taps(body, 4)}"
    return source, [p.grid(g[0]), p.image(g[0])]


# --- CUDA kernels: a thread per element written (a window's taps, or the windows reading a pixel) --------
def _cuda_source(name, per_element: str, args: str, p: _Plan) -> str:
    """A kernel over the elements of `out` (b, h, w, c unravelled) and the host function launching it."""
    body = "\n".join(f"    {line}" for line in per_element.strip("\n").splitlines())
    return f"""@cuda.jit(cache=CACHE)
def {name}_each({args}, out):
    e = cuda.grid(1)
    if e >= out.size:
        return
    c = e % out.shape[3]
    rest = e // out.shape[3]
    x = rest % out.shape[2]
    rest //= out.shape[2]
    y = rest % out.shape[1]
    b = rest // out.shape[1]
{body}


def {name}({args}, out, n, stream):
    {name}_each[blocks(out.size, NT), NT, stream]({args}, out)
"""


def _windows_of_pixel(p: _Plan, body: str) -> str:
    """Loops over the windows (oh, ow) whose taps read pixel (y, x), running `body` (8 spaces in)."""
    inner = "\n".join(f"        {line}" for line in body.strip("\n").splitlines())
    return f"""acc = f32(0.0)
for i in range({p.KH}):
    t = y + {p.PT} - i * {p.DH}
    if t < 0 or t % {p.SH} != 0 or t // {p.SH} >= {p.OH}:
        continue
    oh = t // {p.SH}
    for j in range({p.KW}):
        u = x + {p.PL} - j * {p.DW}
        if u < 0 or u % {p.SW} != 0 or u // {p.SW} >= {p.OW}:
            continue
        ow = u // {p.SW}
{inner}
out[b, y, x, c] = acc
"""


def _window_scale(p: _Plan, oh: str, ow: str) -> str:
    return f"""rows = 0
for i2 in range({p.KH}):
    rows += 1 if 0 <= {oh} * {p.SH} - {p.PT} + i2 * {p.DH} < {p.H} else 0
cols = 0
for j2 in range({p.KW}):
    cols += 1 if 0 <= {ow} * {p.SW} - {p.PL} + j2 * {p.DW} < {p.W} else 0
scale = f32(1.0) / f32(rows * cols)
"""


def _patches_cuda(name, shapes, out_shape, attrs):
    (x,) = shapes
    p = _Plan(x[1:-1], x[-1], attrs)
    k = p.KH * p.KW * p.C
    body = f"""ch = c % {p.C}
i = c // {p.C} // {p.KW}
j = c // {p.C} % {p.KW}
ih = y * {p.SH} - {p.PT} + i * {p.DH}
iw = x * {p.SW} - {p.PL} + j * {p.DW}
if ih >= 0 and ih < {p.H} and iw >= 0 and iw < {p.W}:
    out[b, y, x, c] = a0[b, ih, iw, ch]
else:
    out[b, y, x, c] = f32(0.0)
"""
    return _cuda_source(name, body, "a0", p), [p.image(x[0]), p.grid(x[0], k)]


def _patches_grad_cuda(name, shapes, out_shape, attrs):
    (g,) = shapes
    p = _Plan(tuple(attrs["spatial"]), out_shape[-1], attrs)
    body = _windows_of_pixel(p, f"acc += a0[b, oh, ow, (i * {p.KW} + j) * {p.C} + c]")
    return _cuda_source(name, body, "a0", p), [p.grid(g[0], g[-1]), p.image(g[0])]


def _window_taps(p: _Plan, oh: str, ow: str, body: str) -> str:
    inner = "\n".join(f"        {line}" for line in body.strip("\n").splitlines())
    return f"""for i2 in range({p.KH}):
    ih = {oh} * {p.SH} - {p.PT} + i2 * {p.DH}
    if ih < 0 or ih >= {p.H}:
        continue
    for j2 in range({p.KW}):
        iw = {ow} * {p.SW} - {p.PL} + j2 * {p.DW}
        if iw < 0 or iw >= {p.W}:
            continue
{inner}
"""


def _max_pool_cuda(name, shapes, out_shape, attrs):
    (x,) = shapes
    p = _Plan(x[1:-1], x[-1], attrs)
    # `v != v` carries a NaN through, as lax.max does.
    taps = _window_taps(p, "y", "x", "v = a0[b, ih, iw, c]\nif v > best or v != v:\n    best = v")
    body = f"best = f32(-np.inf)\n{taps}out[b, y, x, c] = best\n"
    return _cuda_source(name, body, "a0", p), [p.image(x[0]), p.grid(x[0])]


def _max_pool_grad_cuda(name, shapes, out_shape, attrs):
    x, g = shapes
    p = _Plan(x[1:-1], x[-1], attrs)
    # Each window's first maximum (the tap the CPU routes its gradient to), found again per pixel.
    first_max = _window_taps(
        p, "oh", "ow", "v = a0[b, ih, iw, c]\nif bh < 0 or v > best:\n    best = v\n    bh = ih\n    bw = iw"
    )
    start = "best = f32(-np.inf)\nbh = -1\nbw = -1\n"
    window = f"{start}{first_max}if bh == y and bw == x:\n    acc += a1[b, oh, ow, c]"
    return _cuda_source(name, _windows_of_pixel(p, window), "a0, a1", p), [
        p.image(x[0]),
        p.grid(x[0]),
        p.image(x[0]),
    ]


def _avg_pool_cuda(name, shapes, out_shape, attrs):
    (x,) = shapes
    p = _Plan(x[1:-1], x[-1], attrs)
    taps = _window_taps(p, "y", "x", "total += a0[b, ih, iw, c]")
    body = f"total = f32(0.0)\n{taps}{_window_scale(p, 'y', 'x')}out[b, y, x, c] = total * scale\n"
    return _cuda_source(name, body, "a0", p), [p.image(x[0]), p.grid(x[0])]


def _avg_pool_grad_cuda(name, shapes, out_shape, attrs):
    (g,) = shapes
    p = _Plan(tuple(attrs["spatial"]), g[-1], attrs)
    body = _windows_of_pixel(p, f"{_window_scale(p, 'oh', 'ow')}acc += a0[b, oh, ow, c] * scale")
    return _cuda_source(name, body, "a0", p), [p.grid(g[0]), p.image(g[0])]


_CUDA_WRITERS = {
    "patches": _patches_cuda,
    "patches_grad": _patches_grad_cuda,
    "max_pool": _max_pool_cuda,
    "max_pool_grad": _max_pool_grad_cuda,
    "avg_pool": _avg_pool_cuda,
    "avg_pool_grad": _avg_pool_grad_cuda,
}


# --- CPU kernels on Numba's threads ----------------------------------------------------------------------
def _per_image(shape) -> tuple[int, str] | None:
    """(elements per image, view shape of the images lo..hi) of a kernel argument whose first axis is the
    batch: (None, H, W, C), or flat as `n * size`; None for any other."""
    if len(shape) > 1 and shape[0] is None and all(isinstance(d, int) for d in shape[1:]):
        return math.prod(shape[1:]), f"(hi - lo, {', '.join(map(str, shape[1:]))})"
    flat = re.fullmatch(r"n \* (\d+)", str(shape[0])) if len(shape) == 1 else None
    return (int(flat[1]), f"((hi - lo) * {flat[1]},)") if flat else None


def _by_images(writer):
    """`writer`, whose kernel in a program on Numba's threads (attrs["split"]) runs its images in blocks, one
    per thread: a window never reaches across images, so no two blocks write the same element (a CNN's
    pooling, im2col and their gradients at batch 128 were ~40% of its training step on one thread)."""

    def write(name, shapes, out_shape, attrs):
        source, arg_shapes = writer(name, shapes, out_shape, attrs)
        per_image = [_per_image(shape) for shape in arg_shapes]
        if not attrs.get("split", False) or None in per_image:
            return source, arg_shapes
        header, body = source.split("\n", 1)
        params = header[header.index("(") + 1 : header.index(")")].split(", ")  # the arrays, then n
        arrays = zip(params[:-1], per_image, strict=True)
        blocks = [f"view({a}, lo * {size}, {shape})" for a, (size, shape) in arrays]
        call = f"{name}_images({', '.join(blocks)}, hi - lo)"
        split = [
            PARALLEL_JIT,
            f"def {name}({', '.join(params)}):",
            *blocks_source(f"loop_parts(n, {max(size for size, _ in per_image)})", "n", call),
            "",
            "",
            JIT,
            f"def {name}_images({', '.join(params)}):",
            body,
        ]
        return "\n".join(split), arg_shapes

    return write


def _opaque(name, infer, reference, grad, writer):
    lowerings = {"cpu": _by_images(writer), "cuda": _CUDA_WRITERS[name]}
    register(OpDef(name, "opaque", infer, reference, grad, lowerings=lowerings))


_opaque("patches", _patches_infer, _patches_reference, _patches_grad, _patches_cpu)
_opaque("patches_grad", _patches_grad_infer, _patches_grad_reference, _patches_grad_grad, _patches_grad_cpu)
_opaque("max_pool", _pool_infer, _max_pool_reference, _max_pool_grad, _max_pool_cpu)
_opaque("max_pool_grad", _max_pool_grad_infer, _max_pool_grad_reference, None, _max_pool_grad_cpu)
_opaque("avg_pool", _pool_infer, _avg_pool_reference, _avg_pool_grad, _avg_pool_cpu)
_opaque(
    "avg_pool_grad", _avg_pool_grad_infer, _avg_pool_grad_reference, _avg_pool_grad_grad, _avg_pool_grad_cpu
)

"""Elementwise ops with numpy broadcasting: one scalar expression each, which fused loops inline.

Comparisons return float32 0/1 (not bool) so that masks live in the same float32 arena as everything else;
`where` treats any non-zero condition as true.
"""

from __future__ import annotations

import math

import numpy as np

from kgraph.ir.builder import emit
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, broadcast_shapes, format_shape, result_dtype

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _broadcast_type(types, attrs, origin):
    try:
        shape = broadcast_shapes(*(t.shape for t in types))
    except ValueError:
        shapes = ", ".join(format_shape(t.shape) for t in types)
        raise infer_error(origin, f"operand shapes {shapes} are not broadcast-compatible.") from None
    return TensorType(shape, attrs.get("dtype") or result_dtype(*(t.dtype for t in types)))


def unbroadcast(grad, shape):
    """Sums `grad` over the axes that broadcasting stretched, so it matches an input of `shape`."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and grad.shape[lead + i] != 1
    )
    reduced = emit("sum", grad, axes=axes, keepdims=True) if axes else grad
    return reduced if tuple(reduced.shape) == tuple(shape) else emit("reshape", reduced, shape=tuple(shape))


def elementwise(name, arity, expr, reference, grad=None, dtype=None):
    """Registers an elementwise op whose scalar form is `expr` over `{a}`, `{b}`, `{c}` (and attributes)."""

    def infer(types, attrs, origin):
        if len(types) != arity:
            raise infer_error(origin, f"{name} takes {arity} operands, received {len(types)}.")
        t = _broadcast_type(types, attrs, origin)
        return TensorType(t.shape, dtype or t.dtype)

    def scalar(args, attrs):
        if callable(expr):
            return expr(args, attrs)
        return expr.format(**dict(zip("abc", args, strict=False)), **attrs)

    def ref(xs, attrs, ctx):
        out = reference(*xs, **attrs)
        out_dtype = attrs.get("dtype") or dtype or result_dtype(*(str(x.dtype) for x in xs))
        if out_dtype == "float32" and any(x.dtype == np.float64 for x in xs):
            out_dtype = "float64"  # gradient checks evaluate the reference in float64
        return np.asarray(out, dtype=np.dtype(out_dtype))

    return register(OpDef(name, "elementwise", infer, ref, grad, scalar))


# Gradient rules: (inputs, output, output_grad, attrs) -> one gradient (or None) per input.
def _g_add(x, y, g, at):
    return [unbroadcast(g, x[0].shape), unbroadcast(g, x[1].shape)]


def _g_sub(x, y, g, at):
    return [unbroadcast(g, x[0].shape), unbroadcast(-g, x[1].shape)]


def _g_mul(x, y, g, at):
    return [unbroadcast(g * x[1], x[0].shape), unbroadcast(g * x[0], x[1].shape)]


def _g_div(x, y, g, at):
    return [unbroadcast(g / x[1], x[0].shape), unbroadcast(-g * y / x[1], x[1].shape)]


def _g_pow(x, y, g, at):
    da = g * x[1] * emit("pow", x[0], x[1] - 1.0)
    db = g * y * emit("log", emit("maximum", x[0], 1e-30))
    return [unbroadcast(da, x[0].shape), unbroadcast(db, x[1].shape)]


def _g_maximum(x, y, g, at):
    pick_a = emit("greater_equal", x[0], x[1])
    return [unbroadcast(g * pick_a, x[0].shape), unbroadcast(g * (1.0 - pick_a), x[1].shape)]


def _g_minimum(x, y, g, at):
    pick_a = emit("less_equal", x[0], x[1])
    return [unbroadcast(g * pick_a, x[0].shape), unbroadcast(g * (1.0 - pick_a), x[1].shape)]


def _g_where(x, y, g, at):
    return [
        None,
        unbroadcast(emit("where", x[0], g, 0.0), x[1].shape),
        unbroadcast(emit("where", x[0], 0.0, g), x[2].shape),
    ]


def _no_grad(x, y, g, at):
    return [None] * len(x)


elementwise("add", 2, "({a} + {b})", np.add, _g_add)
elementwise("sub", 2, "({a} - {b})", np.subtract, _g_sub)
elementwise("mul", 2, "({a} * {b})", np.multiply, _g_mul)
elementwise("div", 2, "({a} / {b})", np.divide, _g_div)
elementwise("pow", 2, "({a} ** {b})", np.power, _g_pow)
elementwise("maximum", 2, "max({a}, {b})", np.maximum, _g_maximum)
elementwise("minimum", 2, "min({a}, {b})", np.minimum, _g_minimum)
elementwise("greater", 2, "f32({a} > {b})", np.greater, _no_grad, dtype="float32")
elementwise("greater_equal", 2, "f32({a} >= {b})", np.greater_equal, _no_grad, dtype="float32")
elementwise("less", 2, "f32({a} < {b})", np.less, _no_grad, dtype="float32")
elementwise("less_equal", 2, "f32({a} <= {b})", np.less_equal, _no_grad, dtype="float32")
elementwise("equal", 2, "f32({a} == {b})", np.equal, _no_grad, dtype="float32")
elementwise("where", 3, "({b} if {a} != 0 else {c})", lambda c, a, b: np.where(c != 0, a, b), _g_where)
elementwise(
    "clip",
    1,
    "min(max({a}, f32({lo!r})), f32({hi!r}))",
    lambda a, lo, hi: np.clip(a, lo, hi),
    lambda x, y, g, at: [g * emit("greater_equal", x[0], at["lo"]) * emit("less_equal", x[0], at["hi"])],
)

elementwise("identity", 1, "{a}", lambda a: a, lambda x, y, g, at: [g])
elementwise("stop_gradient", 1, "{a}", lambda a: a, _no_grad)
elementwise("neg", 1, "(-{a})", np.negative, lambda x, y, g, at: [-g])
# exp32, log32: scalar_math.py's vectorizable forms on the CPU; math.exp and math.log on CUDA (cuda.py)
elementwise("exp", 1, "exp32({a})", np.exp, lambda x, y, g, at: [g * y])
elementwise("log", 1, "log32({a})", np.log, lambda x, y, g, at: [g / x[0]])
elementwise("log1p", 1, "math.log1p({a})", np.log1p, lambda x, y, g, at: [g / (x[0] + 1.0)])
elementwise("expm1", 1, "math.expm1({a})", np.expm1, lambda x, y, g, at: [g * (y + 1.0)])
elementwise("sqrt", 1, "math.sqrt({a})", np.sqrt, lambda x, y, g, at: [g * 0.5 / y])
elementwise("square", 1, "({a} * {a})", np.square, lambda x, y, g, at: [g * 2.0 * x[0]])
elementwise("abs", 1, "abs({a})", np.abs, lambda x, y, g, at: [g * emit("sign", x[0])])
elementwise("sign", 1, "f32(({a} > 0) - ({a} < 0))", np.sign, _no_grad)
elementwise("floor", 1, "f32(math.floor({a}))", np.floor, _no_grad)
elementwise("cos", 1, "math.cos({a})", np.cos, lambda x, y, g, at: [-g * emit("sin", x[0])])
elementwise("sin", 1, "math.sin({a})", np.sin, lambda x, y, g, at: [g * emit("cos", x[0])])
elementwise(
    "erf",
    1,
    "math.erf({a})",
    _erf,
    lambda x, y, g, at: [g * (2.0 / math.sqrt(math.pi)) * emit("exp", -emit("square", x[0]))],
)
# relu keeps its own op so that its gradient reads the output (a mask), not the input.
elementwise(
    "relu",
    1,
    "max({a}, f32(0.0))",
    lambda a: np.maximum(a, 0),
    lambda x, y, g, at: [g * emit("greater", y, 0.0)],
)
elementwise(
    "sigmoid",
    1,
    "(f32(1.0) / (f32(1.0) + exp32(-{a})))",
    lambda a: 1 / (1 + np.exp(-a)),
    lambda x, y, g, at: [g * y * (1.0 - y)],
)
elementwise("tanh", 1, "math.tanh({a})", np.tanh, lambda x, y, g, at: [g * (1.0 - y * y)])
# log(1 + exp(x)) without overflow: x + log1p(exp(-x)) for x > 0.
elementwise(
    "softplus",
    1,
    "({a} + math.log1p(math.exp(-{a})) if {a} > 0 else math.log1p(math.exp({a})))",
    lambda a: np.logaddexp(np.float32(0), a),
    lambda x, y, g, at: [g * emit("sigmoid", x[0])],
)
elementwise(
    "cast",
    1,
    lambda args, at: f"{'f32' if at['dtype'] == 'float32' else 'np.int32'}({args[0]})",
    lambda a, dtype: a.astype(dtype),
    _no_grad,
)

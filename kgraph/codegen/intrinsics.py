"""Tiny LLVM-level helpers for generated code: a float32 array's data pointer, a C-contiguous view
at an element offset of a flat buffer, bit casts between float32 and int32 (scalar_math.py), and atomic
flags two threads share.

`view(arena, offset, shape)` replaces `arena[a:b].reshape(shape)`: it builds the array header directly, with
no bounds or size checks to compile (the memory plan guarantees them), so a step with dozens of views
compiles in a fraction of the time and costs a few instructions per view at run time.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

_f32p = types.CPointer(types.float32)
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@intrinsic
def ptr(typingctx, array):
    """The data pointer of a float32 array (BLAS reads and writes through it)."""

    def codegen(context, builder, signature, args):
        return context.make_array(array)(context, builder, args[0]).data

    return _f32p(array), codegen


@intrinsic
def view(typingctx, base, offset, shape):
    """A C-contiguous float32 array of `shape` starting `offset` elements into `base`'s data."""
    if not isinstance(shape, types.UniTuple | types.Tuple) or not isinstance(base, types.Array):
        return None
    ndim = len(shape)
    result = types.Array(types.float32, ndim, "C")

    def codegen(context, builder, signature, args):
        base_type, _, shape_type = signature.args
        source = context.make_array(base_type)(context, builder, args[0])
        data = builder.gep(source.data, [args[1]])
        intp = context.get_value_type(types.intp)
        dims = [
            builder.sext(d, intp) if d.type != intp else d for d in cgutils.unpack_tuple(builder, args[2])
        ]
        strides, stride = [], context.get_constant(types.intp, 4)
        for d in reversed(dims):
            strides.insert(0, stride)
            stride = builder.mul(stride, d)
        out = context.make_array(result)(context, builder)
        context.populate_array(
            out,
            data=data,
            shape=dims,
            strides=strides,
            itemsize=context.get_constant(types.intp, 4),
            meminfo=source.meminfo,
            parent=None,
        )
        return impl_ret_borrowed(context, builder, result, out._getvalue())

    return result(base, offset, shape), codegen


@intrinsic
def float_bits(typingctx, x):
    """The bits of a float32 as an int32 (a bit cast: exponent and mantissa fields, as C's memcpy gives)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@intrinsic
def bits_float(typingctx, bits):
    """The float32 whose bits are the low 32 of the integer `bits` (float_bits undone; Numba widens int32
    arithmetic to 64 bits)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], ir.IntType(32)) if bits.bitwidth > 32 else args[0]
        return builder.bitcast(low, ir.FloatType())

    return types.float32(bits), codegen


# --- flags two threads share (a recurrent scan and the thread projecting its inputs ahead of it) -----------
# Plain loads and stores of a flag in a loop may be hoisted out of it by LLVM; these are atomic, and order
# the memory around them (release on writing a flag, acquire on reading one), so what a thread wrote before
# raising a flag is visible to the thread that sees it raised.
def _flag_pointer(context, builder, flags_type, flags, index):
    return builder.gep(context.make_array(flags_type)(context, builder, flags).data, [index])


@intrinsic
def claim_flag(typingctx, flags, index):
    """Raises `flags[index]` (an int64 array) from 0 to 1 atomically; True for the one caller that did."""

    def codegen(context, builder, signature, args):
        slot = _flag_pointer(context, builder, signature.args[0], *args)
        zero, one = ir.Constant(ir.IntType(64), 0), ir.Constant(ir.IntType(64), 1)
        return builder.extract_value(builder.cmpxchg(slot, zero, one, "acq_rel", "acquire"), 1)

    return types.boolean(flags, index), codegen


@intrinsic
def raise_flag(typingctx, flags, index):
    """Sets `flags[index]` to 1, after every write this thread made before it."""

    def codegen(context, builder, signature, args):
        slot = _flag_pointer(context, builder, signature.args[0], *args)
        builder.store_atomic(ir.Constant(ir.IntType(64), 1), slot, "release", 8)
        return context.get_dummy_value()

    return types.void(flags, index), codegen


@intrinsic
def flag_raised(typingctx, flags, index):
    """Whether `flags[index]` is set; if so, what its setter wrote before is visible here."""

    def codegen(context, builder, signature, args):
        slot = _flag_pointer(context, builder, signature.args[0], *args)
        value = builder.load_atomic(slot, "acquire", 8)
        return builder.icmp_signed("!=", value, ir.Constant(ir.IntType(64), 0))

    return types.boolean(flags, index), codegen


@intrinsic
def spin_pause(typingctx):
    """x86's `pause` in a spin-wait loop (it leaves the core's pipeline to its other thread, and saves power);
    nothing elsewhere."""

    def codegen(context, builder, signature, args):
        if _X86:
            pause = ir.FunctionType(ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, pause, "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()

    return types.void(), codegen


# --- denormal floats ----------------------------------------------------------------------------------------
# A float32 below 1.2e-38 is denormal, and x86 cores take ~100x longer on arithmetic that reads or writes one:
# an MNIST MLP trained on random labels ends its second epoch with 530K of Adam's 1.34M slots denormal, and
# its Adam kernel took 4.4 ms a step against 0.3-0.7. XLA (Keras on JAX) runs its CPU code with denormals
# flushed to zero; compiled programs do too, each thread setting the flags while it runs kgraph's code and
# restoring them after, so Python and numpy code around a program keep their own.
_FLUSH_DENORMALS = (1 << 15) | (1 << 6)  # MXCSR's flush-to-zero and denormals-are-zero bits


def _mxcsr(builder, name: str, slot) -> None:
    function = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    call = cgutils.get_or_insert_function(builder.module, function, f"llvm.x86.sse.{name}")
    builder.call(call, [builder.bitcast(slot, ir.IntType(8).as_pointer())])


@intrinsic
def flush_denormals(typingctx):
    """Makes this thread's float arithmetic treat denormal inputs and results as zero; returns the mode it
    had, for `restore_float_mode` (0 and nothing changed off x86)."""

    def codegen(context, builder, signature, args):
        if not _X86:
            return ir.Constant(ir.IntType(32), 0)
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr(builder, "stmxcsr", slot)
        mode = builder.load(slot)
        builder.store(builder.or_(mode, ir.Constant(ir.IntType(32), _FLUSH_DENORMALS)), slot)
        _mxcsr(builder, "ldmxcsr", slot)
        return mode

    return types.int32(), codegen


@intrinsic
def restore_float_mode(typingctx, mode):
    """Sets this thread's float mode back to `mode` (from `flush_denormals`)."""

    def codegen(context, builder, signature, args):
        if _X86:
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(builder.trunc(args[0], ir.IntType(32)) if mode.bitwidth > 32 else args[0], slot)
            _mxcsr(builder, "ldmxcsr", slot)
        return context.get_dummy_value()

    if isinstance(mode, types.Integer):
        return types.void(mode), codegen

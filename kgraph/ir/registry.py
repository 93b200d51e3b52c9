"""The op registry: every primitive op is declared once, with all that the compiler needs beside it.

An `OpDef` carries the op's fusion kind, its shape/dtype rule, its numpy reference (the oracle of the tests
and the body of the reference backend), its gradient rule written with IR ops, and, for elementwise ops, the
scalar
expression the CPU code generator inlines into fused loops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = ("source", "elementwise", "reduction", "gemm", "injective", "effect", "opaque")


@dataclass(frozen=True)
class OpDef:
    """One primitive op.

    Attributes:
        name: the op's name in the IR and its printed form.
        kind: the fusion pattern kind, one of `KINDS`.
        infer: `(input_types, attrs, origin) -> TensorType`; raises ValueError naming `origin` on a mismatch.
        reference: `(input_arrays, attrs, ctx) -> ndarray`, the numpy definition of the op.
        grad: `(inputs, output, output_grad, attrs) -> [grad or None per input]` over symbolic values, or
            None for ops that pass no gradient.
        scalar: for elementwise ops, `(argument_expressions, attrs) -> expression` in Numba-compilable Python,
            evaluated per element in float32.
        lowerings: for opaque ops (a kernel of their own: window gathers, scans), `{backend: writer}` where
            `writer(name, input_shapes, output_shape, attrs) -> (source, view_shapes)` returns the source of
            `def name(a0, a1, ..., out, n)` and the shape each array is passed in (inputs, then the output):
            entries are ints, `None` for the batch size `n`, or a source expression such as `"n * 80"`. The
            CPU writer's function is compiled with `njit` by the code generator; the CUDA writer's,
            `def name(a0, ..., out, n, stream)`, is a host function that launches kernels it defines in the
            same source (`@cuda.jit(cache=CACHE)`) on `stream`, with `cuda`, `f32`, `float32`, `math`, `np`
            `NT` (threads per block) and `blocks(count, per_block)` in scope (see kgraph/codegen/cuda.py).
    """

    name: str
    kind: str
    infer: Callable
    reference: Callable
    grad: Callable | None = None
    scalar: Callable | None = None
    lowerings: dict[str, Callable] = field(default_factory=dict)


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.kind not in KINDS:
        raise ValueError(f"Op {opdef.name!r} has unknown kind {opdef.kind!r}; expected one of {KINDS}.")
    if opdef.name in _REGISTRY:
        raise ValueError(f"Op {opdef.name!r} is registered twice.")
    _REGISTRY[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown op {name!r}. Known ops: {sorted(_REGISTRY)}") from None


def all_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)


def infer_error(origin: str, message: str) -> ValueError:
    where = f"layer '{origin}'" if origin else "an operation"
    return ValueError(f"Invalid input for {where}: {message}")

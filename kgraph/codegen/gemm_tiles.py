"""The inner loops of kgraph's small-matrix product, written as LLVM IR: `C = alpha * op(A) @ B + beta * C`
in tiles of 6 rows by 16 columns held in twelve 8-lane registers.

Per step along the shared dimension a tile loads two vectors of B's row (contiguous: B is row-major and not
transposed), broadcasts 6 entries of A (either layout: A's entries are read one at a time), and issues 12
fused multiply-adds; the 12 accumulators, the two B vectors and one broadcast fill 15 of AVX2's 16 vector
registers. Numba cannot name vector types, hence IR; LLVM's optimizer keeps the accumulators in registers
and picks the instructions for the machine it runs on (two 4-lane halves without AVX).

The last 1 to 5 rows get tiles of their own height, wider where registers allow (one row: 64 columns), so a
product of one row (a batch of one) does no redundant work; columns come in whole 8-lane vectors, so the
caller passes a column count that is a multiple of 8 (gemm.py).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

TILE_ROWS = 6  # rows of C a tile holds
LANES = 8  # float32 lanes of an AVX2 register
# Vectors of C's row a tile of so many rows holds: its accumulators, B's vectors and one broadcast of A fit
# AVX2's 16 registers (rows x vectors + vectors + 1 <= 16); one row reads each B vector once, so it takes 8.
VECTORS_FOR_ROWS = {1: 8, 2: 4, 3: 3, 4: 3, 5: 2, 6: 2}

_F32, _I64, _I32 = ir.FloatType(), ir.IntType(64), ir.IntType(32)
_F32P = _F32.as_pointer()
_VEC = ir.VectorType(_F32, LANES)
_VECP = _VEC.as_pointer()
_SYMBOL = "kgraph_gemm_tiles"
# (trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc): sizes and leading dimensions as 64-bit integers
_SIGNATURE = ir.FunctionType(
    ir.VoidType(), [_I32, _I64, _I64, _I64, _F32, _F32P, _I64, _F32P, _I64, _F32, _F32P, _I64]
)


def _constant(value: int) -> ir.Constant:
    return ir.Constant(_I64, value)


def _splat(builder: ir.IRBuilder, scalar) -> ir.Value:
    """A vector of LANES copies of `scalar`."""
    undefined = ir.Constant(_VEC, ir.Undefined)
    first = builder.insert_element(undefined, scalar, ir.Constant(_I32, 0))
    return builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))


class _Writer:
    """Builds the body of the tiles function (one instance per function)."""

    def __init__(self, function: ir.Function):
        self.function = function
        self.fmuladd = cgutils.get_or_insert_function(
            function.module, ir.FunctionType(_VEC, [_VEC, _VEC, _VEC]), "llvm.fmuladd.v8f32"
        )
        (self.trans_a, self.m, self.n, self.k, self.alpha, self.a, self.lda, self.b, self.ldb, self.beta,
         self.c, self.ldc) = function.args  # fmt: skip
        for pointer in (self.a, self.b):  # C never overlaps an operand (the memory plan's guarantee)
            pointer.add_attribute("noalias")

    def loop(self, builder: ir.IRBuilder, start, stop, step: int, body, name: str) -> None:
        """`for i in range(start, stop, step): body(builder, i)`."""
        before = builder.block
        new_block = self.function.append_basic_block
        head, inside, after = (new_block(f"{name}.{part}") for part in ("head", "body", "end"))
        builder.branch(head)
        builder.position_at_end(head)
        index = builder.phi(_I64, name)
        index.add_incoming(start, before)
        builder.cbranch(builder.icmp_signed("<", index, stop), inside, after)
        builder.position_at_end(inside)
        body(builder, index)
        index.add_incoming(builder.add(index, _constant(step)), builder.block)
        builder.branch(head)
        builder.position_at_end(after)

    def tile(self, builder: ir.IRBuilder, i0, j0, rows: int, vectors: int, trans_a: bool) -> None:
        """C[i0:i0+rows, j0:j0+8*vectors] from A's rows i0.. and B's columns j0.."""
        row_at = [builder.add(i0, _constant(r)) for r in range(rows)]
        a_rows = [builder.gep(self.a, [row if trans_a else builder.mul(row, self.lda)]) for row in row_at]
        with builder.goto_entry_block():
            slots = [[builder.alloca(_VEC) for _ in range(vectors)] for _ in range(rows)]
        zero = ir.Constant(_VEC, [0.0] * LANES)
        for row_slots in slots:
            for slot in row_slots:
                builder.store(zero, slot)

        def step(builder, p):
            b_row = builder.gep(self.b, [builder.add(builder.mul(p, self.ldb), j0)])
            b_vectors = [
                builder.load(builder.bitcast(builder.gep(b_row, [_constant(v * LANES)]), _VECP), align=4)
                for v in range(vectors)
            ]
            a_at = builder.mul(p, self.lda) if trans_a else p
            for r in range(rows):
                a_splat = _splat(builder, builder.load(builder.gep(a_rows[r], [a_at])))
                for v in range(vectors):
                    total = builder.call(self.fmuladd, [a_splat, b_vectors[v], builder.load(slots[r][v])])
                    builder.store(total, slots[r][v])

        self.loop(builder, _constant(0), self.k, 1, step, "p")
        alpha, beta = _splat(builder, self.alpha), _splat(builder, self.beta)
        keep_c = builder.fcmp_ordered("!=", self.beta, ir.Constant(_F32, 0.0))  # beta 0: C may hold NaN
        for r in range(rows):
            c_row = builder.gep(self.c, [builder.add(builder.mul(row_at[r], self.ldc), j0)])
            for v in range(vectors):
                at = builder.bitcast(builder.gep(c_row, [_constant(v * LANES)]), _VECP)
                product = builder.fmul(builder.load(slots[r][v]), alpha)
                with builder.if_else(keep_c) as (accumulate, overwrite):
                    with accumulate:
                        old = builder.load(at, align=4)
                        builder.store(builder.call(self.fmuladd, [beta, old, product]), at, align=4)
                    with overwrite:
                        builder.store(product, at, align=4)

    def row_block(self, builder: ir.IRBuilder, i0, rows: int, trans_a: bool) -> None:
        """C's rows i0..i0+rows: tiles as wide as registers allow, then single vectors to the last column."""
        vectors = VECTORS_FOR_ROWS[rows]
        width = _constant(vectors * LANES)
        wide_end = builder.mul(builder.sdiv(self.n, width), width)
        self.loop(builder, _constant(0), wide_end, vectors * LANES,
                  lambda builder, j0: self.tile(builder, i0, j0, rows, vectors, trans_a), "j")  # fmt: skip
        self.loop(builder, wide_end, self.n, LANES,
                  lambda builder, j0: self.tile(builder, i0, j0, rows, 1, trans_a), "jv")  # fmt: skip

    def rows_of(self, builder: ir.IRBuilder, trans_a: bool) -> None:
        """Blocks of 6 rows, then the last 1 to 5 rows as one block of their own size."""
        full = _constant(TILE_ROWS)
        full_end = builder.mul(builder.sdiv(self.m, full), full)
        self.loop(builder, _constant(0), full_end, TILE_ROWS,
                  lambda builder, i0: self.row_block(builder, i0, TILE_ROWS, trans_a), "i")  # fmt: skip
        left = builder.sub(self.m, full_end)
        for rows in range(1, TILE_ROWS):
            with builder.if_then(builder.icmp_signed("==", left, _constant(rows))):
                self.row_block(builder, full_end, rows, trans_a)

    def write(self) -> None:
        builder = ir.IRBuilder(self.function.append_basic_block("entry"))
        transposed = builder.icmp_signed("!=", self.trans_a, ir.Constant(_I32, 0))
        with builder.if_else(transposed) as (a_transposed, a_plain):
            with a_transposed:
                self.rows_of(builder, True)
            with a_plain:
                self.rows_of(builder, False)
        builder.ret_void()


_F32_POINTER = types.CPointer(types.float32)


@intrinsic
def gemm_tiles(typingctx, trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """`C[:m, :n] = alpha * op(A) @ B + beta * C` by tiles (row-major; op transposes A when `trans_a` is
    nonzero; `n` a multiple of 8). Sizes and leading dimensions are 64-bit integers."""
    signature = types.void(
        types.int32, types.int64, types.int64, types.int64, types.float32, _F32_POINTER, types.int64,
        _F32_POINTER, types.int64, types.float32, _F32_POINTER, types.int64,
    )  # fmt: skip

    def codegen(context, builder, sig, args):
        function = cgutils.get_or_insert_function(builder.module, _SIGNATURE, _SYMBOL)
        if function.is_declaration:
            function.linkage = "internal"
            _Writer(function).write()
        builder.call(function, args)
        return context.get_dummy_value()

    return signature, codegen

"""The inner loops of kgraph's small-matrix product, written as LLVM IR: `C = alpha * op(A) @ B + beta * C`
in tiles of 6 rows of C held in registers, as wide as the machine's vector registers allow.

Per step along the shared dimension a tile loads a few vectors of B's row (contiguous: B is row-major and
not transposed), broadcasts 6 entries of A (either layout: A's entries are read one at a time), and issues
one fused multiply-add per accumulator. With AVX2 (16 registers of 8 lanes) a tile is 6 x 16: 12
accumulators, two B vectors and one broadcast fill 15 registers. With AVX-512 (32 registers of 16 lanes) it
is 6 x 64: 24 + 4 + 1 of 32; measured on one core, 32 x 64 @ 64 x 256 ran at 44 GMAC/s against 29 on the
AVX2 tiles, 128 x 64 @ 64 x 64 at 62 against 32 (a 12 x 32 or 8 x 48 tile did no better). Numba cannot name
vector types, hence IR; LLVM's optimizer keeps the accumulators in registers and picks the instructions for
the machine it runs on (two 4-lane halves without AVX).

The last 1 to 5 rows get tiles of their own height, so a product of one row (a batch of one) does no
redundant work; columns past the last whole tile come in single vectors, then an 8-lane one, so the caller
passes a column count that is a multiple of 8 (gemm.py).
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

TILE_ROWS = 6  # rows of C a tile holds
LANES = 8  # C's columns come in multiples of this many (an AVX2 register of float32)
# Vectors of C's row a tile of so many rows holds, by the lanes of a vector: with AVX2 its accumulators, B's
# vectors and one broadcast of A fit 16 registers (rows x vectors + vectors + 1 <= 16; one row reads each B
# vector once, so it takes 8); with AVX-512, 32 registers hold 4 vectors (64 columns) at every height.
VECTORS_FOR_ROWS = {8: {1: 8, 2: 4, 3: 3, 4: 3, 5: 2, 6: 2}, 16: {rows: 4 for rows in range(1, 7)}}


def _vector_lanes() -> int:
    """Float32 lanes of the vectors the tiles use: 16 where the CPU Numba compiles for has AVX-512 (its
    features are NUMBA_CPU_FEATURES where set, else the host's, as Numba picks them)."""
    features = numba.config.CPU_FEATURES
    if features is None:
        features = llvm.get_host_cpu_features().flatten()
    return 16 if "+avx512f" in features.split(",") else LANES


VECTOR_LANES = _vector_lanes()

_F32, _I64, _I32 = ir.FloatType(), ir.IntType(64), ir.IntType(32)
_F32P = _F32.as_pointer()
# (trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc): sizes and leading dimensions as 64-bit integers
_SIGNATURE = ir.FunctionType(
    ir.VoidType(), [_I32, _I64, _I64, _I64, _F32, _F32P, _I64, _F32P, _I64, _F32, _F32P, _I64]
)


def _constant(value: int) -> ir.Constant:
    return ir.Constant(_I64, value)


def _vector(lanes: int) -> ir.VectorType:
    return ir.VectorType(_F32, lanes)


def _splat(builder: ir.IRBuilder, scalar, lanes: int) -> ir.Value:
    """A vector of `lanes` copies of `scalar`."""
    undefined = ir.Constant(_vector(lanes), ir.Undefined)
    first = builder.insert_element(undefined, scalar, ir.Constant(_I32, 0))
    return builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes))


class _Writer:
    """Builds the body of a tiles function on vectors of `lanes` float32 (one instance per function)."""

    def __init__(self, function: ir.Function, lanes: int):
        self.function, self.lanes = function, lanes
        (self.trans_a, self.m, self.n, self.k, self.alpha, self.a, self.lda, self.b, self.ldb, self.beta,
         self.c, self.ldc) = function.args  # fmt: skip
        for pointer in (self.a, self.b):  # C never overlaps an operand (the memory plan's guarantee)
            pointer.add_attribute("noalias")

    def fmuladd(self, builder: ir.IRBuilder, lanes: int, a, b, c) -> ir.Value:
        vector = _vector(lanes)
        function = cgutils.get_or_insert_function(
            self.function.module, ir.FunctionType(vector, [vector] * 3), f"llvm.fmuladd.v{lanes}f32"
        )
        return builder.call(function, [a, b, c])

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

    def tile(self, builder: ir.IRBuilder, i0, j0, rows: int, vectors: int, lanes: int, trans_a: bool) -> None:
        """C[i0:i0+rows, j0:j0+lanes*vectors] from A's rows i0.. and B's columns j0.."""
        vector, vector_pointer = _vector(lanes), _vector(lanes).as_pointer()
        row_at = [builder.add(i0, _constant(r)) for r in range(rows)]
        a_rows = [builder.gep(self.a, [row if trans_a else builder.mul(row, self.lda)]) for row in row_at]
        with builder.goto_entry_block():
            slots = [[builder.alloca(vector) for _ in range(vectors)] for _ in range(rows)]
        zero = ir.Constant(vector, [0.0] * lanes)
        for row_slots in slots:
            for slot in row_slots:
                builder.store(zero, slot)

        def step(builder, p):
            b_row = builder.gep(self.b, [builder.add(builder.mul(p, self.ldb), j0)])
            b_at = [builder.gep(b_row, [_constant(v * lanes)]) for v in range(vectors)]
            b_vectors = [builder.load(builder.bitcast(at, vector_pointer), align=4) for at in b_at]
            a_at = builder.mul(p, self.lda) if trans_a else p
            for r in range(rows):
                a_splat = _splat(builder, builder.load(builder.gep(a_rows[r], [a_at])), lanes)
                for v in range(vectors):
                    total = self.fmuladd(builder, lanes, a_splat, b_vectors[v], builder.load(slots[r][v]))
                    builder.store(total, slots[r][v])

        self.loop(builder, _constant(0), self.k, 1, step, "p")
        alpha, beta = _splat(builder, self.alpha, lanes), _splat(builder, self.beta, lanes)
        keep_c = builder.fcmp_ordered("!=", self.beta, ir.Constant(_F32, 0.0))  # beta 0: C may hold NaN
        for r in range(rows):
            c_row = builder.gep(self.c, [builder.add(builder.mul(row_at[r], self.ldc), j0)])
            for v in range(vectors):
                at = builder.bitcast(builder.gep(c_row, [_constant(v * lanes)]), vector_pointer)
                product = builder.fmul(builder.load(slots[r][v]), alpha)
                with builder.if_else(keep_c) as (accumulate, overwrite):
                    with accumulate:
                        old = builder.load(at, align=4)
                        builder.store(self.fmuladd(builder, lanes, beta, old, product), at, align=4)
                    with overwrite:
                        builder.store(product, at, align=4)

    def columns(self, builder: ir.IRBuilder, start, width: int, tile) -> ir.Value:
        """`tile(j0)` for each whole `width` columns from `start`; returns the first column left."""
        end = builder.add(start, builder.mul(builder.sdiv(builder.sub(self.n, start), _constant(width)),
                                             _constant(width)))  # fmt: skip
        self.loop(builder, start, end, width, lambda builder, j0: tile(builder, j0), f"j{width}")
        return end

    def row_block(self, builder: ir.IRBuilder, i0, rows: int, trans_a: bool) -> None:
        """C's rows i0..i0+rows: tiles as wide as registers allow, then single vectors, then (after wide
        vectors) one 8-lane vector to the last column."""
        lanes = self.lanes
        vectors = VECTORS_FOR_ROWS[lanes][rows]
        left = self.columns(
            builder,
            _constant(0),
            vectors * lanes,
            lambda builder, j0: self.tile(builder, i0, j0, rows, vectors, lanes, trans_a),
        )
        left = self.columns(
            builder, left, lanes, lambda builder, j0: self.tile(builder, i0, j0, rows, 1, lanes, trans_a)
        )
        if lanes > LANES:
            self.columns(
                builder, left, LANES, lambda builder, j0: self.tile(builder, i0, j0, rows, 1, LANES, trans_a)
            )

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


def tiles_on(lanes: int):
    """The tiles intrinsic on vectors of `lanes` float32 (`gemm_tiles` uses the machine's; tests try both)."""

    @intrinsic
    def tiles(typingctx, trans_a, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        signature = types.void(
            types.int32, types.int64, types.int64, types.int64, types.float32, _F32_POINTER, types.int64,
            _F32_POINTER, types.int64, types.float32, _F32_POINTER, types.int64,
        )  # fmt: skip

        def codegen(context, builder, sig, args):
            function = cgutils.get_or_insert_function(builder.module, _SIGNATURE, f"kgraph_gemm_tiles{lanes}")
            if function.is_declaration:
                function.linkage = "internal"
                _Writer(function, lanes).write()
            builder.call(function, args)
            return context.get_dummy_value()

        return signature, codegen

    return tiles


# `C[:m, :n] = alpha * op(A) @ B + beta * C` by tiles (row-major; op transposes A when `trans_a` is
# nonzero; `n` a multiple of 8), on the machine's vectors. Sizes and leading dimensions are 64-bit integers.
gemm_tiles = tiles_on(VECTOR_LANES)

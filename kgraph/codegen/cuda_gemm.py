"""CUDA source of a GEMM: a tiled shared-memory kernel, with its epilogue fused where it is elementwise.

Each block computes a BM x BN tile of the product with 16 x 16 threads; a thread holds TM x TN results in
registers (rows `tr + 16 i`, columns `tc + 16 j`, so neighbouring threads touch neighbouring columns). The
K axis is walked BK at a time through shared memory. Transposed operands are read transposed while loading
the tiles, so no copy is made.

The epilogue (bias, activation, an activation's gradient...) is computed from the registers and only the
kernel's outputs are stored, when it is elementwise: no reductions, nothing after the row loop, only
full-domain outputs, and no output written over an operand (other blocks may still be reading it). Otherwise
the product is stored and the epilogue runs as a loop kernel of its own (`cuda_loops`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kgraph.codegen.cuda_loops import FULL, JIT_OPTIONS, SIMULATED, CudaLoopWriter
from kgraph.codegen.loops import KernelArg
from kgraph.ir.graph import Graph
from kgraph.passes.fuse import Kernel

# A block is SIDE x SIDE threads. Numba's simulator runs each thread as a Python thread, so it gets 8 x 8
# (the kernels work unchanged; the PTX check compiles the real size).
SIDE = 8 if SIMULATED else 16
THREADS = SIDE * SIDE


@dataclass(frozen=True)
class Tiling:
    bm: int
    bn: int
    bk: int

    @property
    def tm(self) -> int:
        return self.bm // SIDE

    @property
    def tn(self) -> int:
        return self.bn // SIDE


LARGE, SMALL = Tiling(64, 64, 16), Tiling(32, 32, 16)


@dataclass
class GemmKernel:
    source: str
    name: str
    operands: list[KernelArg]  # lhs, rhs as matrices
    args: list[KernelArg]  # the arrays after the operands, in parameter order
    tiling: Tiling
    rows: str  # M as source in `n`
    cols: int  # N
    fused: bool
    uses_cursor: bool
    split: int = 1  # blocks along K (gridDim.z), adding their partial tiles into a zeroed product


def tiling_for(rows: int, cols: int) -> Tiling:
    """The large tile unless it leaves most of the GPU idle, or half of each tile (32 columns or fewer)."""
    blocks = -(-rows // LARGE.bm) * -(-cols // LARGE.bn)
    return LARGE if blocks >= 96 and cols > SMALL.bn else SMALL


def split_for(tiles: int, depth: int) -> int:
    """Blocks along K when the product has few tiles but a long K (a weight gradient over every row)."""
    if tiles >= 64 or depth < 1024:
        return 1
    return max(1, min(-(-128 // tiles), depth // 256))


def fusable_epilogue(writer: CudaLoopWriter, storage: dict | None) -> bool:
    if writer.cross or writer.row_mode or any(writer.info.post[n] for n in writer.members):
        return False
    if any(n in writer.outputs for n in writer.prologue):
        return False
    if any(writer.kind(n) != FULL for n in writer.members if n in writer.outputs):
        return False
    operands = [storage.get(v) for v in writer.graph.node(writer.kernel.anchor).inputs] if storage else []
    return not any(storage.get(n) in operands for n in writer.outputs) if storage else True


def gemm_kernel(graph: Graph, kernel: Kernel, storage: dict | None, batch_size: int) -> GemmKernel:
    """The GEMM of a `gemm` group, with the whole epilogue when `fusable_epilogue` allows."""
    writer = CudaLoopWriter(graph, kernel, storage, batch_size)
    anchor = graph.node(kernel.anchor)
    ta, tb = anchor.attrs.get("transpose_a", False), anchor.attrs.get("transpose_b", False)
    rows_now = eval(writer.rows, {"n": batch_size})  # noqa: S307 - our own "n * 12" arithmetic
    cols = int(graph.type(kernel.anchor).shape[-1])
    tiling = tiling_for(rows_now, cols)
    lhs_shape = [batch_size if d is None else d for d in graph.type(anchor.inputs[0]).shape]
    depth = math.prod(lhs_shape[:-1]) if ta else lhs_shape[-1]  # K of the operand's matrix view
    split = split_for(-(-rows_now // tiling.bm) * -(-cols // tiling.bn), depth)
    # A split product is summed with atomics, so its epilogue runs after it, as a loop kernel.
    fused = split == 1 and fusable_epilogue(writer, storage)
    name = kernel.name + ("" if fused else "_gemm")
    args = [a for a in writer.args[2:] if a.alias_of is None]
    if not fused:  # the product alone; the epilogue is a loop kernel reading it
        args = [a for a in args if a.value == kernel.anchor]
    params = ["lhs", "rhs", *(writer.names[a.value] for a in args)]
    cursor = ["cursor"] if fused and writer.uses_cursor else []
    t = tiling
    lines = [
        f"@cuda.jit{JIT_OPTIONS}",
        f"def {name}({', '.join([*params, *cursor, 'n'])}):",
        f"    # %{kernel.anchor} = matmul{' (A transposed)' if ta else ''}{' (B transposed)' if tb else ''}",
        f"    sa = cuda.shared.array(({t.bk}, {t.bm + 1}), float32)",
        f"    sb = cuda.shared.array(({t.bk}, {t.bn + 1}), float32)",
        "    tid = cuda.threadIdx.x",
        f"    tr = tid // {SIDE}",
        f"    tc = tid % {SIDE}",
        f"    m0 = cuda.blockIdx.y * {t.bm}",
        f"    n0 = cuda.blockIdx.x * {t.bn}",
        f"    M = lhs.shape[{1 if ta else 0}]",
        f"    K = lhs.shape[{0 if ta else 1}]",
        f"    N = rhs.shape[{0 if tb else 1}]",
        f"    chunk = (K + cuda.gridDim.z * {t.bk} - 1) // (cuda.gridDim.z * {t.bk}) * {t.bk}",
        "    k_begin = cuda.blockIdx.z * chunk",
        "    k_end = min(K, k_begin + chunk)",
    ]
    acc = [[f"c{i}_{j}" for j in range(t.tn)] for i in range(t.tm)]
    lines += [f"    {c} = f32(0.0)" for row in acc for c in row]
    lines += [f"    for k0 in range(k_begin, k_end, {t.bk}):"]
    lines += _tile_load("sa", "lhs", "M", t.bm, t.bk, "m0", transposed=ta, k_major=False)
    lines += _tile_load("sb", "rhs", "N", t.bn, t.bk, "n0", transposed=tb, k_major=True)
    lines += ["        cuda.syncthreads()", f"        for kk in range({t.bk}):"]
    # Register names apart from the epilogue's operands (a0, a1, ...).
    lines += [f"            ra{i} = sa[kk, tr + {SIDE * i}]" for i in range(t.tm)]
    lines += [f"            rb{j} = sb[kk, tc + {SIDE * j}]" for j in range(t.tn)]
    lines += [f"            {acc[i][j]} += ra{i} * rb{j}" for i in range(t.tm) for j in range(t.tn)]
    lines += ["        cuda.syncthreads()"]
    lines += [f"    res = cuda.local.array({t.tm * t.tn}, float32)"]
    lines += [f"    res[{i * t.tn + j}] = {acc[i][j]}" for i in range(t.tm) for j in range(t.tn)]
    lines += [
        f"    R = {writer.rows}",
        f"    C = {writer.cols}",
    ]
    if fused:
        writer.position = "0"
        lines += writer.compute(writer.prologue, 1)
    lines += [
        f"    for i in range({t.tm}):",
        f"        for j in range({t.tn}):",
        f"            r = m0 + tr + {SIDE} * i",
        f"            c = n0 + tc + {SIDE} * j",
        "            if r < M and c < N:",
    ]
    if fused:
        writer.overrides[kernel.anchor] = f"res[i * {t.tn} + j]"
        writer.position = "r * C + c"
        finals = [n for n in writer.members if n in writer.outputs]
        lines += writer.compute(writer.closure(finals, set(writer.prologue)), 4)
        lines += [f"                {writer.store(n)} = {writer.var(n)}" for n in finals]
        if kernel.anchor in writer.outputs:
            lines.append(f"                {writer.names[kernel.anchor]}[r, c] = res[i * {t.tn} + j]")
    elif split > 1:
        lines.append(
            f"                cuda.atomic.add({writer.names[kernel.anchor]}, (r, c), res[i * {t.tn} + j])"
        )
    else:
        lines.append(f"                {writer.names[kernel.anchor]}[r, c] = res[i * {t.tn} + j]")
    origins = f"# {kernel.name}: from {', '.join(kernel.origins)}\n" if kernel.origins else ""
    return GemmKernel(
        origins + "\n".join(lines) + "\n",
        name,
        writer.args[:2],
        args,
        tiling,
        writer.rows,
        cols,
        fused,
        fused and writer.uses_cursor,
        split,
    )


def _tile_load(
    shared: str, source: str, extent: str, width: int, bk: int, origin: str, transposed: bool, k_major: bool
) -> list[str]:
    """Lines loading a BK x width tile of an operand into `shared[k, i]`, reading memory along its rows.

    `k_major`: the operand is stored K x width (B, or A transposed) unless `transposed` flips it.
    """
    along_k = transposed if k_major else not transposed  # memory rows run along K
    if along_k:  # stored (width, K): consecutive threads read consecutive k
        index = ["ii = e // " + str(bk), "kk = e % " + str(bk)]
        read = f"{source}[{origin} + ii, k0 + kk]"
    else:  # stored (K, width): consecutive threads read consecutive i
        index = ["kk = e // " + str(width), "ii = e % " + str(width)]
        read = f"{source}[k0 + kk, {origin} + ii]"
    return [
        f"        for e in range(tid, {width * bk}, {THREADS}):",
        *(f"            {s}" for s in index),
        f"            if {origin} + ii < {extent} and k0 + kk < k_end:",
        f"                {shared}[kk, ii] = {read}",
        "            else:",
        f"                {shared}[kk, ii] = f32(0.0)",
    ]

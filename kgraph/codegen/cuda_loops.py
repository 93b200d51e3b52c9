"""CUDA source of one fused loop kernel (and the epilogue of a GEMM): the loop nest of loop_domain, parallel.

The CPU walks rows then columns; here threads do. A block is TX x TY threads:

    row mode (the group has row reductions): TX = 32 threads share a row, TY rows per block; a row reduction
        is a pass over the row's columns by its 32 threads, then a tree in shared memory.
    flat mode (no row reductions): threads tile rows x columns; a single-row domain (a flat optimizer update
        over every parameter) uses 256 threads per row.

Blocks stride over rows (`gridDim.y`, at most `gy_max`) and, in flat mode, over columns. Column and whole
reductions cannot finish inside one launch, so each writes partials: a column reduction one row of partials
per row group (`pc[g, c]`, owned by one thread), a whole reduction one partial per block (`ps[b]`). A second,
one-block launch (`<name>_post`) reduces those partials in a fixed order (the result does not depend on
timing) and computes what the CPU computes after its row loop: column values, scalars, and the stores of
prologue scalars (a counter's `+= 1` may only be written once every block has read it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kgraph.codegen.loops import (
    _INIT,
    KernelArg,
    _loop_reads,
    column_closure,
    dims,
    float_source,
    kernel_args,
    scalar_const,
)
from kgraph.ir.graph import Graph
from kgraph.ir.registry import get_op
from kgraph.passes.fuse import Kernel
from kgraph.passes.loop_domain import COL, FULL, IDENTITY, REDUCTIONS, ROW, SCALAR, LoopAnalysis, analyze

# Threads per block. Numba's simulator runs each thread as a Python thread (~0.4 ms each): it gets smaller
# blocks, which every kernel here works with unchanged (PTX checks compile the real size).
SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")
NT = 64 if SIMULATED else 256
GY_LIMIT = 65535  # CUDA's limit on gridDim.y
ROWS_PER_THREAD = 32  # with cross-row partials: fewer, longer row strides keep the post kernel's sums short
GX_MAX = 8192
_INDEX = {FULL: "[r, c]", ROW: "[r]", COL: "[c]", SCALAR: "[0]"}
_COMBINE = {"sum": "{a} + {b}", "max": "max({a}, {b})", "min": "min({a}, {b})"}


@dataclass
class Partial:
    """Scratch a cross-row reduction needs: `pc<n>` (rows of column partials) or `ps<n>` (block partials)."""

    name: str
    shape: tuple


@dataclass
class LoopKernel:
    """The CUDA kernels of one loop group and how to launch them."""

    source: str
    main: str | None  # kernel name, or None when everything happens after the row loop
    post: str | None
    args: list[KernelArg]  # arrays in parameter order (aliases dropped), as the CPU passes them
    partials: list[Partial]
    tx: int
    ty: int
    row_mode: bool
    rows: str  # row and column counts as source in `n`
    cols: str
    gy_max: int = 16
    uses_cursor: bool = False


def combine(op: str, a: str, b: str) -> str:
    return _COMBINE[op].format(a=a, b=b)


def block_shape(row_mode: bool, domain) -> tuple[int, int]:
    single_row = all(d == 1 for d in domain[:-1]) and None not in domain[:-1]
    if not row_mode and single_row:
        return NT, 1
    return 32, NT // 32


class CudaLoopWriter:
    """Writes the main and post kernels of one loop group (see the module note)."""

    def __init__(self, graph: Graph, kernel: Kernel, storage: dict | None, batch_size: int):
        self.graph, self.kernel = graph, kernel
        self.info: LoopAnalysis = analyze(graph, kernel.nodes, kernel.domain, kernel.anchor)
        self.args = kernel_args(graph, kernel, self.info, storage)
        operands = self.args[:2] if kernel.anchor is not None else []
        self.operands = operands
        self.names: dict[int, str] = {}
        self.params: list[str] = []
        for arg in self.args[len(operands) :]:
            if arg.alias_of is None:
                self.names[arg.value] = f"{'o' if arg.written else 'a'}{arg.value}"
                self.params.append(self.names[arg.value])
        self.names.update({a.value: self.names[a.alias_of] for a in self.args if a.alias_of is not None})
        self.members = [n for n in kernel.nodes if n != kernel.anchor]
        self.member_set = set(kernel.nodes)
        self.outputs = set(kernel.outputs)
        self.row_mode = self.info.levels > 0
        self.tx, self.ty = block_shape(self.row_mode, kernel.domain)
        self.rows, self.cols = dims(kernel.domain)
        self.batch_size = batch_size
        self.position = "0"  # the element index random numbers are drawn for, set per context
        self.overrides: dict[int, str] = {}  # values held in registers (a GEMM's product in its epilogue)
        self.uses_cursor = any(graph.node(n).op == "random_uniform" for n in self.members)
        self.prologue = [
            n for n in self.members if self.kind(n) == SCALAR and not self.info.post[n] and not self.is_red(n)
        ]
        self.cross = [n for n in self.members if self.is_red(n) and self.red_kind(n) in (COL, SCALAR)]
        rows_now = eval(self.rows, {"n": batch_size})  # noqa: S307 - our own "n * 12" arithmetic
        if self.cross:  # each row group writes partials the post kernel sums one by one
            self.gy_max = min(256, max(16, -(-rows_now // (self.ty * ROWS_PER_THREAD))))
        else:
            self.gy_max = GY_LIMIT

    # --- what each node is (as loop_domain says) -----------------------------------------------
    def kind(self, value: int) -> str:
        if value in self.info.kind:
            return self.info.kind[value]
        return self.info.external_kind(self.graph, value)

    def is_red(self, n: int) -> bool:
        return self.info.reduction_kind.get(n, IDENTITY) != IDENTITY

    def red_kind(self, n: int) -> str:
        return self.info.reduction_kind[n]

    def input0(self, n: int) -> int:
        return self.graph.node(n).inputs[0]

    def op(self, n: int) -> str:
        return self.graph.node(n).op

    def closure(self, values: list[int], ready: set[int]) -> list[int]:
        return column_closure(self.graph, self.members, self.kernel.anchor, self.is_red, values, ready)

    def var(self, value: int) -> str:
        if value in self.overrides:
            return self.overrides[value]
        if value in self.member_set and value != self.kernel.anchor:
            return f"acc{value}" if self.is_red(value) else f"v{value}"
        const = scalar_const(self.graph, value)
        if const is not None:
            return float_source(const)
        if self.graph.node(value).op == "batch_size":
            return "f32(n)"
        return f"{self.names[value]}{_INDEX[self.kind(value)]}"

    def store(self, n: int) -> str:
        return f"{self.names[n]}{_INDEX[self.kind(n)]}"

    def expression(self, n: int) -> str:
        node = self.graph.node(n)
        args = [self.var(i) for i in _loop_reads(self.graph, n)]
        if node.op in ("assign", "reshape") or node.op in REDUCTIONS:  # a reduction over unit axes copies
            return args[-1] if node.op not in ("argmax", "argmin") else "f32(0.0)"
        if node.op == "batch_size":
            return "f32(n)"
        if node.op == "iota":
            last = node.attrs["axis"] == len(node.attrs["shape"]) - 1
            return "f32(c)" if last else "f32(r)"
        if node.op == "random_uniform":
            return f"uniform(cursor[1], cursor[2], {self.position}, {n})"
        return get_op(node.op).scalar(args, node.attrs)

    def compute(self, nodes: list[int], depth: int) -> list[str]:
        pad = "    " * depth
        return [f"{pad}v{n} = {self.expression(n)}  # %{n} {self.op(n)}" for n in nodes if not self.is_red(n)]

    def signature(self, name: str, extra: list[str]) -> str:
        partials = [p.name for p in self.partials()]
        cursor = ["cursor"] if self.uses_cursor else []
        return f"def {name}({', '.join([*self.params, *cursor, 'n', *partials, *extra])}):"

    def partials(self) -> list[Partial]:
        parts = []
        for n in self.cross:
            if self.red_kind(n) == COL:
                parts.append(Partial(f"pc{n}", (self.gy_max * self.ty, self.static_cols())))
            else:
                parts.append(Partial(f"ps{n}", (self.max_blocks(),)))
        return parts

    def static_cols(self) -> int:
        last = self.kernel.domain[-1] if self.kernel.domain else 1
        return self.batch_size if last is None else int(last)

    def max_blocks(self) -> int:
        gx = 1 if self.row_mode else min(-(-self.static_cols() // self.tx), GX_MAX)
        return gx * self.gy_max

    # --- the main kernel -----------------------------------------------------------------------
    def row_loop(self) -> list[str]:
        """The body run for each row: level passes, row values, the final column pass, row stores."""
        lines: list[str] = []
        ready = set(self.prologue)
        row_nodes = [n for n in self.members if self.kind(n) == ROW and not self.info.post[n]]
        for level in range(self.info.levels + 1):
            if level:
                reds = [n for n in row_nodes if self.is_red(n) and self.info.level[n] == level]
                lines += self.row_reduction_pass(reds, ready)
                ready |= set(reds)
            self.position = "r"
            plain = [n for n in row_nodes if not self.is_red(n) and self.info.level[n] == level]
            lines += self.compute(plain, 2)
            ready |= set(plain)
        finals = [
            n
            for n in self.members
            if (self.kind(n) == FULL and n in self.outputs)
            or (self.is_red(n) and self.red_kind(n) in (COL, SCALAR) and self.kind(self.input0(n)) == FULL)
        ]
        if finals:
            self.position = "r * C + c"
            needed = [t for t in finals if not self.is_red(t)] + [
                self.input0(t) for t in finals if self.is_red(t)
            ]
            lines.append("        for c in range(cs, C, cstep):")
            lines += self.compute(self.closure(needed, ready), 3)
            stores = []
            for n in finals:
                x = self.var(self.input0(n)) if self.is_red(n) else None
                if not self.is_red(n):
                    stores.append(f"{self.store(n)} = {self.var(n)}")
                elif self.red_kind(n) == COL:
                    stores.append(f"pc{n}[g, c] = {combine(self.op(n), f'pc{n}[g, c]', x)}")
                else:
                    stores.append(f"acc{n} = {combine(self.op(n), f'acc{n}', x)}")
            lines.append("            if live:")
            lines += [f"                {s}" for s in stores]
        first_thread = []
        for n in row_nodes:
            if n in self.outputs:
                first_thread.append(f"{self.store(n)} = {self.var(n)}")
        for n in self.cross:
            if self.red_kind(n) == SCALAR and self.kind(self.input0(n)) == ROW:
                first_thread.append(f"acc{n} = {combine(self.op(n), f'acc{n}', self.var(self.input0(n)))}")
        if first_thread:
            lines.append("        if live and cs == 0:")
            lines += [f"            {s}" for s in first_thread]
        return lines

    def row_reduction_pass(self, reds: list[int], ready: set[int]) -> list[str]:
        """One pass over a row's columns by its TX threads, then a shared-memory tree per reduction."""
        self.position = "r * C + c"
        lines = []
        for n in reds:
            lines.append(f"        acc{n} = {_INIT[self.op(n)]}")
            if self.op(n) in ("argmax", "argmin"):
                lines.append(f"        idx{n} = 0")
        lines.append("        for c in range(tx, C, TX):")
        lines += self.compute(self.closure([self.input0(n) for n in reds], ready), 3)
        for n in reds:
            x = self.var(self.input0(n))
            if self.op(n) in ("argmax", "argmin"):
                better = ">" if self.op(n) == "argmax" else "<"
                lines += [
                    f"            if {x} {better} acc{n}:",
                    f"                acc{n} = {x}",
                    f"                idx{n} = c",
                ]
            else:
                lines.append(f"            acc{n} = {combine(self.op(n), f'acc{n}', x)}")
        for n in reds:
            lines.append(f"        sh{n}[ty, tx] = acc{n}")
            if self.op(n) in ("argmax", "argmin"):
                lines.append(f"        si{n}[ty, tx] = idx{n}")
        # The tree is a loop, not unrolled in the source: a fifth of the code for Numba to type and lower.
        lines += ["        cuda.syncthreads()", "        step = TX // 2", "        while step:"]
        lines.append("            if tx < step:")
        for n in reds:
            a, b = f"sh{n}[ty, tx]", f"sh{n}[ty, tx + step]"
            if self.op(n) in ("argmax", "argmin"):
                better = ">" if self.op(n) == "argmax" else "<"
                ia, ib = f"si{n}[ty, tx]", f"si{n}[ty, tx + step]"
                lines += [
                    f"                if {b} {better} {a} or ({b} == {a} and {ib} < {ia}):",
                    f"                    {a} = {b}",
                    f"                    {ia} = {ib}",
                ]
            else:
                lines.append(f"                {a} = {combine(self.op(n), a, b)}")
        lines += ["            cuda.syncthreads()", "            step //= 2"]
        for n in reds:
            if self.op(n) in ("argmax", "argmin"):
                lines.append(f"        acc{n} = f32(si{n}[ty, 0])")
            else:
                lines.append(f"        acc{n} = sh{n}[ty, 0]")
        lines.append("        cuda.syncthreads()")
        return lines

    def main_source(self, name: str) -> str | None:
        body = self.row_loop()
        if not body and not self.cross:
            return None
        lines = [self.signature(name, [])]
        lines += [
            f"    TX = {self.tx}",
            f"    TY = {self.ty}",
            "    tx = cuda.threadIdx.x",
            "    ty = cuda.threadIdx.y",
            f"    R = {self.rows}",
            f"    C = {self.cols}",
            "    g = cuda.blockIdx.y * TY + ty",
            "    cs = cuda.blockIdx.x * TX + tx",
            "    cstep = cuda.gridDim.x * TX",
        ]
        self.position = "0"
        lines += self.compute(self.prologue, 1)
        for n in self.cross:
            if self.red_kind(n) == COL:
                lines += ["    for c in range(cs, C, cstep):", f"        pc{n}[g, c] = {_INIT[self.op(n)]}"]
            else:
                lines.append(f"    acc{n} = {_INIT[self.op(n)]}")
        for n in self.members:
            if self.is_red(n) and self.red_kind(n) == ROW:
                lines.append(f"    sh{n} = cuda.shared.array(({self.ty}, {self.tx}), float32)")
                if self.op(n) in ("argmax", "argmin"):
                    lines.append(f"    si{n} = cuda.shared.array(({self.ty}, {self.tx}), int32)")
        if body:
            lines += [
                "    for r0 in range(cuda.blockIdx.y * TY, R, cuda.gridDim.y * TY):",
                "        live = r0 + ty < R",
                "        r = min(r0 + ty, R - 1)",
                *body,
            ]
        for n in self.cross:
            if self.red_kind(n) == SCALAR:
                lines += block_reduce(f"acc{n}", self.op(n), "ty * TX + tx", f"sb{n}", 1)
                lines += [
                    "    if tx == 0 and ty == 0:",
                    f"        ps{n}[cuda.blockIdx.y * cuda.gridDim.x + cuda.blockIdx.x] = acc{n}",
                ]
        return "\n".join(lines) + "\n"

    # --- the post kernel -----------------------------------------------------------------------
    def post_source(self, name: str) -> str | None:
        scalars = [
            n for n in self.members if self.info.post[n] and self.kind(n) == SCALAR and not self.is_red(n)
        ]
        columns = [
            n
            for n in self.members
            if self.kind(n) == COL and not self.is_red(n) and (self.info.post[n] or n in self.outputs)
        ]
        col_reds = [n for n in self.cross if self.red_kind(n) == COL]
        scalar_stores = [n for n in self.prologue + scalars if n in self.outputs] + [
            n for n in self.cross if self.red_kind(n) == SCALAR and n in self.outputs
        ]
        if not (self.cross or columns or scalar_stores):
            return None
        lines = [
            self.signature(name, ["G", "NB"]),
            "    t = cuda.threadIdx.x",
            f"    R = {self.rows}",
            f"    C = {self.cols}",
        ]
        self.position = "0"
        lines += self.compute(self.prologue, 1)
        for n in self.cross:
            if self.red_kind(n) == SCALAR:
                lines += [f"    acc{n} = {_INIT[self.op(n)]}", f"    for i in range(t, NB, {NT}):"]
                lines.append(f"        acc{n} = {combine(self.op(n), f'acc{n}', f'ps{n}[i]')}")
                lines += block_reduce(f"acc{n}", self.op(n), "t", f"sb{n}", 1)
        lines += self.compute(scalars, 1)
        if columns or col_reds:
            self.position = "c"
            lines.append(f"    for c in range(t, C, {NT}):")
            for n in col_reds:
                lines += [
                    f"        acc{n} = {_INIT[self.op(n)]}",
                    "        for gg in range(G):",
                    f"            acc{n} = {combine(self.op(n), f'acc{n}', f'pc{n}[gg, c]')}",
                ]
                if n in self.outputs:
                    lines.append(f"        {self.store(n)} = acc{n}")
            ready = set(self.prologue) | set(scalars) | set(self.cross)
            lines += self.compute(self.closure(columns, ready), 2)
            lines += [f"        {self.store(n)} = {self.var(n)}" for n in columns if n in self.outputs]
        if scalar_stores:
            # Every thread has read the variables these overwrite only once all have passed this barrier.
            lines += ["    cuda.syncthreads()", "    if t == 0:"]
            lines += [f"        {self.store(n)} = {self.var(n)}" for n in scalar_stores]
        return "\n".join(lines) + "\n"


def block_reduce(acc: str, op: str, index: str, shared: str, depth: int) -> list[str]:
    """Reduces `acc` over the NT threads of a block; every thread ends with the result in `acc`."""
    pad = "    " * depth
    mine = f"{shared}[{index}]"
    lines = [
        f"{pad}{shared} = cuda.shared.array({NT}, float32)",
        f"{pad}{shared}[{index}] = {acc}",
        f"{pad}cuda.syncthreads()",
    ]
    lines += [
        f"{pad}step = {NT // 2}",
        f"{pad}while step:",
        f"{pad}    if {index} < step:",
        f"{pad}        {mine} = {combine(op, mine, f'{shared}[{index} + step]')}",
        f"{pad}    cuda.syncthreads()",
        f"{pad}    step //= 2",
        f"{pad}{acc} = {shared}[0]",
        f"{pad}cuda.syncthreads()",
    ]
    return lines


def loop_kernel(graph: Graph, kernel: Kernel, storage: dict | None, batch_size: int) -> LoopKernel:
    """The CUDA kernels of a `loop` group, or of a `gemm` group's epilogue (reading the product stored)."""
    writer = CudaLoopWriter(graph, kernel, storage, batch_size)
    origins = f"# {kernel.name}: from {', '.join(kernel.origins)}\n" if kernel.origins else ""
    main = writer.main_source(kernel.name)
    post = writer.post_source(kernel.name + "_post")
    parts = [origins]
    if main:
        parts.append(f"@cuda.jit{JIT_OPTIONS}\n{main}")
    if post:
        parts.append(f"@cuda.jit{JIT_OPTIONS}\n{post}")
    return LoopKernel(
        "\n\n".join(p for p in parts if p),
        kernel.name if main else None,
        kernel.name + "_post" if post else None,
        [a for a in writer.args[len(writer.operands) :] if a.alias_of is None],
        writer.partials(),
        writer.tx,
        writer.ty,
        writer.row_mode,
        writer.rows,
        writer.cols,
        writer.gy_max,
        writer.uses_cursor,
    )


JIT_OPTIONS = "(cache=CACHE)"

"""Source of one loop or GEMM kernel: the loop nest of loop_domain, written as plain Numba-compilable Python.

Shape of a generated kernel (R rows, C columns, L levels of row reductions):

    prologue scalars; zeroed column/whole accumulators
    for r in range(R):
        row values; for each level: one pass over the columns computing that level's row reductions
        final pass over the columns: full outputs, column and whole reductions
        row outputs
    post values (after all rows): scalars, then one pass over the columns for column values
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from kgraph.codegen.blas import NO_TRANS, ROW_MAJOR, TRANS
from kgraph.codegen.decorators import JIT, PARALLEL_JIT, blocks_source
from kgraph.codegen.threads import SPLIT_MIN_ELEMENTS
from kgraph.ir.graph import Graph
from kgraph.ir.registry import get_op
from kgraph.passes.fuse import Kernel
from kgraph.passes.loop_domain import COL, FULL, IDENTITY, REDUCTIONS, ROW, SCALAR, LoopAnalysis, analyze

# Ops so cheap that recomputing them beats a store and a load.
_CHEAP = {
    "add",
    "sub",
    "mul",
    "neg",
    "identity",
    "reshape",
    "broadcast_to",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "equal",
    "where",
    "maximum",
    "minimum",
    "clip",
    "relu",
    "abs",
    "assign",
}
_INDEX = {FULL: "[r, c]", ROW: "[r]", COL: "[c]", SCALAR: "[0]"}
# Where a block of a split loop starts in each argument and its shape there, by argument kind (rows lo..hi, or
# columns lo..hi of a one-row loop); arguments of other kinds are passed whole.
_ROW_BLOCK = {FULL: ("lo * C", "(hi - lo, C)"), ROW: ("lo", "(hi - lo,)")}
_COLUMN_BLOCK = {FULL: ("lo", "(1, hi - lo)"), COL: ("lo", "(hi - lo,)")}
_INIT = {
    "sum": "f32(0.0)",
    "max": "f32(-np.inf)",
    "min": "f32(np.inf)",
    "argmax": "f32(-np.inf)",
    "argmin": "f32(np.inf)",
}


@dataclass
class KernelArg:
    """One array argument of a kernel: the value it carries and the 2D/1D shape it is passed in."""

    value: int
    kind: str  # full/row/col/scalar, or "matrix": a GEMM operand or result as (leading axes, last axis)
    written: bool
    alias_of: int | None = None  # passed as the argument of this earlier value (same storage)


def dims(domain) -> tuple[str, str]:
    """Row and column counts of a domain as source expressions (`n` is the batch size)."""
    as_src = ["n" if d is None else str(d) for d in domain]
    rows = " * ".join(as_src[:-1]) or "1"
    return rows, (as_src[-1] if as_src else "1")


def float_source(value: float) -> str:
    """A float32 literal as generated source (repr writes `inf` and `nan`, which are no Python names)."""
    if np.isnan(value):
        return "f32(np.nan)"
    if np.isinf(value):
        return "f32(np.inf)" if value > 0 else "f32(-np.inf)"
    return f"f32({value!r})"


def scalar_const(graph: Graph, value: int) -> float | None:
    node = graph.node(value)
    if node.op == "const" and np.size(node.attrs["value"]) == 1:
        return float(np.asarray(node.attrs["value"]).reshape(()))
    return None


def kernel_args(
    graph: Graph, kernel: Kernel, info: LoopAnalysis, storage: dict | None = None
) -> list[KernelArg]:
    """Arrays a kernel takes, in order: GEMM operands and result, inputs read in the loop, then outputs.

    Values that share storage (an update written over the variable it reads, an output placed in place of a
    dying input) are passed once: with one pointer, LLVM sees the loop reads then writes the same element and
    vectorizes it, where two pointers to one buffer fail its runtime overlap check.
    """
    args: list[KernelArg] = []
    anchor = kernel.anchor
    if anchor is not None:
        a, b = graph.node(anchor).inputs
        args += [
            KernelArg(a, "matrix", False),
            KernelArg(b, "matrix", False),
            KernelArg(anchor, "matrix", True),
        ]
    loop_inputs = {i for n in kernel.nodes if n != anchor for i in _loop_reads(graph, n)}
    for value in kernel.inputs:
        if value in loop_inputs and scalar_const(graph, value) is None:
            args.append(KernelArg(value, info.external_kind(graph, value), False))
    for value in kernel.outputs:
        if value != anchor:
            args.append(KernelArg(value, info.kind[value], True))
    if storage:
        for i, arg in enumerate(args):
            if arg.kind == "matrix" or arg.value not in storage:
                continue
            for earlier in args[:i]:
                # A GEMM's result (passed in its own 2-D shape) is also the loop's full-domain layout.
                compatible = earlier.kind == arg.kind != "matrix" or (
                    earlier.value == anchor and arg.kind == FULL
                )
                same = compatible and storage.get(earlier.value) == storage[arg.value]
                if earlier.alias_of is None and same:
                    arg.alias_of = earlier.value
                    break
    return args


def _loop_reads(graph: Graph, node_id: int):
    node = graph.node(node_id)
    return node.inputs[1:] if node.op == "assign" else node.inputs


def kernel_source(graph: Graph, kernel: Kernel, storage: dict | None = None, split: bool = False) -> str:
    """The Python source of `kernel` as a function taking its `kernel_args` and the batch size `n`; with
    `split` (a program whose work splits across Numba's threads: codegen/threads.py), its GEMM and its loop
    split across those threads instead of running on OpenBLAS's and on one."""
    info = analyze(graph, kernel.nodes, kernel.domain, kernel.anchor)
    args = kernel_args(graph, kernel, info, storage)
    # GEMM operands get names of their own: a value may also be read by the loop, in another shape.
    operands = args[:2] if kernel.anchor is not None else []
    params = [f"lhs{operands[0].value}", f"rhs{operands[1].value}"] if operands else []
    names: dict[int, str] = {}
    for arg in args[len(operands) :]:
        if arg.alias_of is None:
            names[arg.value] = f"{'o' if arg.written else 'a'}{arg.value}"
            params.append(names[arg.value])
    names.update({arg.value: names[arg.alias_of] for arg in args if arg.alias_of is not None})
    origins = f"  # from {', '.join(kernel.origins)}" if kernel.origins else ""
    lines = [f"def {kernel.name}({', '.join([*params, 'n'])}):{origins}"]
    columns = _column_count(dims(kernel.domain)[1], args[len(operands) :], names)
    writer = _LoopWriter(graph, kernel, info, names, columns)
    if kernel.anchor is not None:
        lines += _gemm_lines(graph, kernel.anchor, params[0], params[1], names[kernel.anchor], split)
    if split:
        # The loop sees the GEMM's result (a matrix over its leading axes) as its full domain.
        loop_args = [a for a in args[len(operands) :] if a.alias_of is None]
        kinds = {names[a.value]: FULL if a.kind == "matrix" else a.kind for a in loop_args}
        nest = writer.split_nest(kernel.name, kinds)
        if nest is not None:
            return "\n".join([PARALLEL_JIT, *lines, *nest])
    lines += writer.write()
    if len(lines) == 1:
        lines.append("    pass")
    return "\n".join(lines)


# From this many columns the loops read the column count from an argument's shape. A literal count let LLVM
# unroll the column loop completely, and the unrolled body stayed scalar (it cannot prove that the stores
# miss the arrays it reads); a count known at run time gets the vectorized loop with a runtime alias check:
# bias + relu over 676 x 32 runs in 1.6 instead of 6.5 us. Narrower rows are faster unrolled.
RUNTIME_COLUMNS_FROM = 8


def _column_count(cols: str, args: list[KernelArg], names: dict[int, str]) -> str:
    """The column count as the loops read it: `cols`, or the equal shape entry of a full or column arg."""
    if not cols.isdigit() or int(cols) < RUNTIME_COLUMNS_FROM:
        return cols
    for arg in args:
        if arg.alias_of is None and arg.kind in (FULL, COL):
            return f"{names[arg.value]}.shape[{1 if arg.kind == FULL else 0}]"
    return cols


def _gemm_lines(graph: Graph, anchor: int, a: str, b: str, out: str, split: bool) -> list[str]:
    node = graph.node(anchor)
    ta, tb = node.attrs.get("transpose_a", False), node.attrs.get("transpose_b", False)
    k = f"{a}.shape[0]" if ta else f"{a}.shape[1]"
    lines = [f"    # %{anchor} = matmul{' (A transposed)' if ta else ''}{' (B transposed)' if tb else ''}"]
    if split:
        return [*lines, f"    if {out}.shape[0] > 0:", f"        matmul({ta}, {tb}, {a}, {b}, {out})"]
    lines.append(f"    if {out}.shape[0] > 0:")
    lines.append(
        f"        sgemm({ROW_MAJOR}, {TRANS if ta else NO_TRANS}, {TRANS if tb else NO_TRANS}, "
        f"{out}.shape[0], "
        f"{out}.shape[1], {k}, f32(1.0), ptr({a}), {a}.shape[1], ptr({b}), {b}.shape[1], f32(0.0), "
        f"ptr({out}), {out}.shape[1])"
    )
    return lines


class _LoopWriter:
    """Writes the loop nest of one kernel (see the module note)."""

    def __init__(self, graph: Graph, kernel: Kernel, info: LoopAnalysis, names: dict[int, str], columns: str):
        self.graph, self.kernel, self.info, self.names = graph, kernel, info, names
        self.columns = columns  # the column count's source
        self.member_set = set(kernel.nodes)
        # An assign whose value already lies where it writes is no work: the memory plan put a product (a
        # weight gradient) in its variable. Later members read the value from there.
        copies = {n for n in kernel.nodes if self._writes_itself(n)}
        self.members = [n for n in kernel.nodes if n != kernel.anchor and n not in copies]
        self.member_set -= copies
        self.outputs = set(kernel.outputs)
        self.row_cached: set[int] = set()

    def _writes_itself(self, n: int) -> bool:
        node = self.graph.node(n)
        if node.op != "assign":
            return False
        value = node.inputs[1]
        computed_first = value == self.kernel.anchor or value not in self.member_set
        same_place = self.names.get(n) is not None and self.names.get(n) == self.names.get(value)
        return computed_first and same_place and self.kind(n) == self.kind(value)

    # --- what each node is -------------------------------------------------------------------------
    def kind(self, value: int) -> str:
        if value in self.info.kind:
            return self.info.kind[value]
        return self.info.external_kind(self.graph, value)

    def is_reduction(self, n: int) -> bool:
        """Reductions that accumulate (one over unit dimensions only is a plain copy)."""
        return self.info.reduction_kind.get(n, IDENTITY) != IDENTITY

    def red_kind(self, n: int) -> str:
        return self.info.reduction_kind[n]

    # --- the nest ----------------------------------------------------------------------------------
    def write(self) -> list[str]:
        if not self.members:
            return []
        head, prologue, body, tail = self.sections
        return head + body + tail + self.prologue_stores(prologue)

    @cached_property
    def sections(self) -> tuple[list[str], list[int], list[str], list[str]]:
        """The nest in its parts: counts, prologue and zeroed accumulators; the prologue's nodes; the row
        loop with its row buffers; what runs after the rows. Written once (writing names buffers)."""
        rows, _ = dims(self.kernel.domain)
        head = [f"    R = {rows}", f"    C = {self.columns}"]
        prologue = [
            n
            for n in self.members
            if self.kind(n) == SCALAR and not self.info.post[n] and not self.is_reduction(n)
        ]
        head += self.compute(prologue, set(), 1)
        ready = set(prologue)
        cross = [n for n in self.members if self.is_reduction(n) and self.red_kind(n) in (COL, SCALAR)]
        for n in cross:
            op = self.graph.node(n).op
            if self.red_kind(n) == COL:
                target = self.names.get(n) or f"acc{n}"
                if n not in self.names:
                    head.append(f"    {target} = np.empty(C, dtype=np.float32)")
                    self.names[n] = target
                head += ["    for c in range(C):", f"        {target}[c] = {_INIT[op]}"]
            else:
                head.append(f"    acc{n} = {_INIT[op]}")
        row_body = self.row_body(ready)
        # Full values computed in one column pass and read again in a later pass of the same row are kept in
        # a row buffer rather than recomputed (softmax's exp is computed once, not once per pass).
        body = [f"    rb{n} = np.empty(C, dtype=np.float32)" for n in sorted(self.row_cached)]
        if row_body:
            body += ["    for r in range(R):", *row_body]
        return head, prologue, body, self.epilogue(ready, cross)

    def prologue_stores(self, prologue: list[int]) -> list[str]:
        # Prologue scalars are stored last: the loop may still read the variable they overwrite.
        return [f"    {self.store(n)} = {self.var(n)}" for n in prologue if n in self.outputs]

    def split_nest(self, name: str, kinds: dict[str, str]) -> list[str] | None:
        """The nest with its row loop moved into `{name}_block`, run on blocks of rows (or, for one row,
        of columns) split across Numba's threads: the kernel's body lines, then the block function. The
        kernel itself becomes the parallel function (a kernel calling a split function compiled them both
        again). None when no loop splits: rows meet in a column or whole reduction, or values follow the
        rows."""
        most = np.prod([self.graph.memory.batch_size if d is None else d for d in self.kernel.domain])
        if not self.members or most < SPLIT_MIN_ELEMENTS:
            return None
        head, prologue, body, tail = self.sections
        by_rows = dims(self.kernel.domain)[0] != "1"
        across_rows = any(self.is_reduction(n) and self.red_kind(n) in (COL, SCALAR) for n in self.members)
        row_work = any(self.kind(n) == ROW or self.is_reduction(n) for n in self.members)
        if across_rows or tail or not body or (not by_rows and (row_work or self.columns.isdigit())):
            return None
        read = set(re.findall(r"\bv\d+\b", "\n".join(body)))
        scalars = "".join(f"{self.var(n)}, " for n in prologue if self.var(n) in read)
        units, block = ("R", _ROW_BLOCK) if by_rows else ("C", _COLUMN_BLOCK)
        views = ", ".join(f"view({a}, {', '.join(block[k])})" if k in block else a for a, k in kinds.items())
        return [
            *head,
            *blocks_source(
                "loop_parts(R, C)" if by_rows else "loop_parts(C, 1)",
                units,
                f"{name}_block({views}, {scalars}{'hi - lo' if by_rows else '1'}, n)",
            ),
            *self.prologue_stores(prologue),
            "",
            "",
            JIT,
            f"def {name}_block({', '.join(kinds)}, {scalars}R, n):",
            f"    C = {self.columns}",
            *body,
        ]

    def row_body(self, ready: set[int]) -> list[str]:
        lines: list[str] = []
        levels = self.info.levels
        row_nodes = [n for n in self.members if self.kind(n) == ROW and not self.info.post[n]]
        for level in range(levels + 1):
            if level:
                reductions = [n for n in row_nodes if self.is_reduction(n) and self.info.level[n] == level]
                lines += self.column_pass(reductions, ready, final=False)
                ready |= set(reductions)
            elementwise = [n for n in row_nodes if not self.is_reduction(n) and self.info.level[n] == level]
            lines += self.compute(elementwise, ready, 2)
            ready |= set(elementwise)
        final_targets = [
            n
            for n in self.members
            if (self.kind(n) == FULL and n in self.outputs)
            or (
                self.is_reduction(n)
                and self.red_kind(n) in (COL, SCALAR)
                and self.kind(self.input0(n)) == FULL
            )
        ]
        lines += self.column_pass(final_targets, ready, final=True)
        for n in row_nodes:
            if n in self.outputs:
                lines.append(f"        {self.store(n)} = {self.var(n)}")
        for n in self.members:
            if (
                self.is_reduction(n)
                and self.red_kind(n) == SCALAR
                and not self.info.post.get(self.input0(n), False)
                and self.kind(self.input0(n)) == ROW
            ):
                lines += self.accumulate(n, f"acc{n}", 2)
        return lines

    def column_pass(self, targets: list[int], ready: set[int], final: bool) -> list[str]:
        if not targets:
            return []
        lines = []
        for n in targets:
            if self.is_reduction(n) and self.red_kind(n) == ROW:
                lines.append(f"        acc{n} = {_INIT[self.graph.node(n).op]}")
                if self.graph.node(n).op in ("argmax", "argmin"):
                    lines.append(f"        idx{n} = 0")
        lines.append("        for c in range(C):")
        needed = [t for t in targets if not self.is_reduction(t)] + [
            self.input0(t) for t in targets if self.is_reduction(t)
        ]
        computed = self.closure(needed, ready | self.row_cached)
        lines += self.compute(computed, ready, 3)
        if not final:
            expensive = [n for n in computed if self.kind(n) == FULL and self.graph.node(n).op not in _CHEAP]
            lines += [f"            rb{n}[c] = v{n}" for n in expensive]
            self.row_cached |= set(expensive)
        for n in targets:
            if self.is_reduction(n):
                target = f"acc{n}" if self.red_kind(n) != COL else f"{self.names[n]}[c]"
                lines += self.accumulate(n, target, 3)
            elif final:
                lines.append(f"            {self.store(n)} = {self.var(n)}")
        if not final:
            for n in targets:
                if self.graph.node(n).op in ("argmax", "argmin"):
                    lines.append(f"        acc{n} = f32(idx{n})")
        return lines

    def epilogue(self, ready: set[int], cross: list[int]) -> list[str]:
        lines = []
        for n in cross:
            if self.red_kind(n) == SCALAR and n in self.outputs:
                lines.append(f"    {self.store(n)} = acc{n}")
        scalars = [
            n
            for n in self.members
            if self.info.post[n] and self.kind(n) == SCALAR and not self.is_reduction(n)
        ]
        lines += self.compute(scalars, ready, 1)
        for n in scalars:
            if n in self.outputs:
                lines.append(f"    {self.store(n)} = {self.var(n)}")
        ready |= set(scalars)
        columns = [
            n
            for n in self.members
            if self.kind(n) == COL and not self.is_reduction(n) and (self.info.post[n] or n in self.outputs)
        ]
        if columns:
            lines.append("    for c in range(C):")
            lines += self.compute(self.closure(columns, ready), ready, 2)
            lines += [f"        {self.store(n)} = {self.var(n)}" for n in columns if n in self.outputs]
        return lines

    # --- statements --------------------------------------------------------------------------------
    def input0(self, n: int) -> int:
        return self.graph.node(n).inputs[0]

    def closure(self, values: list[int], ready: set[int]) -> list[int]:
        """Members needed in a column pass for `values`, in topological order."""
        return column_closure(self.graph, self.members, self.kernel.anchor, self.is_reduction, values, ready)

    def var(self, value: int) -> str:
        if value in self.row_cached:
            return f"rb{value}[c]"
        if value in self.member_set and value != self.kernel.anchor:
            if self.is_reduction(value) and self.red_kind(value) == COL:
                return f"{self.names[value]}[c]"
            if self.is_reduction(value):
                return f"acc{value}"
            return f"v{value}"
        const = scalar_const(self.graph, value)
        if const is not None:
            return float_source(const)
        if self.graph.node(value).op == "batch_size":
            return "f32(n)"
        return f"{self.names[value]}{_INDEX[self.kind(value)]}"

    def store(self, n: int) -> str:
        return f"{self.names[n]}{_INDEX[self.kind(n)]}"

    def compute(self, nodes: list[int], ready: set[int], depth: int) -> list[str]:
        pad = "    " * depth
        lines = []
        for n in nodes:
            node = self.graph.node(n)
            if self.is_reduction(n):
                continue
            args = [self.var(i) for i in _loop_reads(self.graph, n)]
            lines.append(f"{pad}v{n} = {self.expression(node, args)}  # %{n} {node.op}")
        return lines

    def expression(self, node, args: list[str]) -> str:
        if node.op in ("assign", "reshape") or node.op in REDUCTIONS:
            return args[-1] if node.op not in ("argmax", "argmin") else "f32(0.0)"
        if node.op == "batch_size":
            return "f32(n)"
        if node.op == "iota":
            last = node.attrs["axis"] == len(node.attrs["shape"]) - 1
            return "f32(c)" if last else "f32(r)"
        return get_op(node.op).scalar(args, node.attrs)

    def accumulate(self, n: int, target: str, depth: int) -> list[str]:
        pad = "    " * depth
        op = self.graph.node(n).op
        x = self.var(self.input0(n))
        if op == "sum":
            return [f"{pad}{target} += {x}"]
        if op in ("max", "min"):
            return [f"{pad}{target} = {op}({target}, {x})"]
        better = ">" if op == "argmax" else "<"
        return [f"{pad}if {x} {better} {target}:", f"{pad}    {target} = {x}", f"{pad}    idx{n} = c"]


def nd_kernel_source(graph: Graph, kernel: Kernel) -> tuple[str, list[int]]:
    """Nested loops for one elementwise op or reduction with arbitrary broadcasting (rank-0 values as (1,)).

    Returns the source and the values its arguments carry, in order (inputs, then the output).
    """
    (n,) = kernel.nodes
    node = graph.node(n)
    reads = [i for i in _loop_reads(graph, n) if scalar_const(graph, i) is None]
    names = {v: f"a{v}" for v in reads}
    lines = [f"def {kernel.name}({', '.join([*names.values(), 'out', 'n'])}):"]
    if node.op in REDUCTIONS:
        (source,) = reads
        shape = graph.type(source).shape
        axes, keep = node.attrs["axes"], node.attrs.get("keepdims", False)
        if node.op in ("argmax", "argmin"):
            loops = [f"i{d}" for d in range(max(node.type.rank, 1))]
            lines += _nest(loops, "out.shape", 1)
            lines += arg_reduction_lines(graph, n, names[source], loops, "    " * (len(loops) + 1))
            return "\n".join(lines), [*reads, n]
        loops = [f"i{d}" for d in range(len(shape))]
        out_index = [("0" if keep else None) if d in axes else f"i{d}" for d in range(len(shape))]
        out_index = [i for i in out_index if i is not None] or ["0"]
        lines += [
            "    flat = out.reshape(out.size)",
            "    for i in range(out.size):",
            f"        flat[i] = {_INIT[node.op]}",
        ]
        lines += _nest(loops, f"{names[source]}.shape", 1)
        pad = "    " * (len(loops) + 1)
        target, value = f"out[{', '.join(out_index)}]", f"{names[source]}[{', '.join(loops)}]"
        update = f"{target} + {value}" if node.op == "sum" else f"{node.op}({target}, {value})"
        lines.append(f"{pad}{target} = {update}")
        return "\n".join(lines), [*reads, n]
    rank = max(node.type.rank, 1)
    loops = [f"i{d}" for d in range(rank)]
    lines += _nest(loops, "out.shape", 1)
    expression = nd_element_expression(graph, n, loops, names)
    pad = "    " * (rank + 1)
    lines.append(f"{pad}out[{', '.join(loops)}] = {expression}  # %{n} {node.op}")
    return "\n".join(lines), [*reads, n]


def arg_reduction_lines(graph: Graph, n: int, source: str, loops: list[str], pad: str) -> list[str]:
    """argmax/argmin node `n` at output index `loops` of an N-d kernel: the first best index along its axis
    of the array `source`. Shared by the CPU and CUDA N-d kernels."""
    node = graph.node(n)
    shape = graph.type(node.inputs[0]).shape
    (axis,) = node.attrs["axes"]
    keep = node.attrs.get("keepdims", False)
    kept = [d for d in range(len(shape)) if d != axis]
    index = ["j" if d == axis else loops[d if keep else kept.index(d)] for d in range(len(shape))]
    better = ">" if node.op == "argmax" else "<"
    return [
        f"{pad}best = {_INIT[node.op]}",
        f"{pad}idx = 0",
        f"{pad}for j in range({source}.shape[{axis}]):",
        f"{pad}    x = {source}[{', '.join(index)}]",
        f"{pad}    if x {better} best:",
        f"{pad}        best = x",
        f"{pad}        idx = j",
        f"{pad}out[{', '.join(loops)}] = f32(idx)",
    ]


def column_closure(graph: Graph, members: list[int], anchor, is_reduction, values, ready) -> list[int]:
    """Members needed (transitively) to compute `values` in one column pass, in topological order: stops at
    values already `ready`, at reductions and at the GEMM anchor. Shared by the CPU and CUDA loop writers."""
    member_set = set(members)
    needed: set[int] = set()
    stack = list(values)
    while stack:
        v = stack.pop()
        if v in needed or v in ready or is_reduction(v):
            continue
        if v in member_set and v != anchor:
            needed.add(v)
            stack.extend(_loop_reads(graph, v))
    return [n for n in members if n in needed]


def nd_element_expression(graph: Graph, n: int, loops: list[str], names: dict) -> str:
    """Elementwise node `n` at output index `loops`: its inputs read with numpy broadcasting (a size-1 axis
    reads element 0), scalar constants inlined. Shared by the CPU and CUDA N-d kernels."""
    node = graph.node(n)
    rank = len(loops)
    args = []
    for value in _loop_reads(graph, n):
        const = scalar_const(graph, value)
        if const is not None:
            args.append(float_source(const))
            continue
        in_shape = graph.type(value).shape
        offset = rank - len(in_shape)
        index = [
            "0" if d == 1 and node.type.shape[offset + k] != 1 else loops[offset + k]
            for k, d in enumerate(in_shape)
        ] or ["0"]
        args.append(f"{names[value]}[{', '.join(index)}]")
    return args[-1] if node.op == "assign" else get_op(node.op).scalar(args, node.attrs)


def _nest(loops: list[str], shape_of: str, depth: int) -> list[str]:
    return [f"{'    ' * (depth + k)}for {name} in range({shape_of}[{k}]):" for k, name in enumerate(loops)]

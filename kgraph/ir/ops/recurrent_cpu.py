"""CPU kernels of the recurrent scans (see recurrent.py for the ops and their numpy definitions).

Every array is passed flat and indexed as `(b * T + t) * width + column`, so the inner loops over units are
contiguous and vectorize, and a column block of a time step is a strided matrix over the batch that
`sgemm` reads or writes in place (leading dimension `T * width`). Per step: one GEMM (two for GRU without
`reset_after`) on a single BLAS thread (`_step_gemm`), then the cell's math as a loop over batch x units.
The activations are the branch-free `tanh32` and `sigmoid32` of scalar_math.py, so the unit loops compile
to AVX2/AVX-512 code. Both walks keep their carried states (or state gradients) in scratch buffers
allocated once per call: a unit loop that reads a view of the array it writes fails LLVM's runtime alias
check and runs its scalar version. From 64 batch rows the walks run on slices of the batch, one per Numba
thread (`_split_by_rows`): batch rows never meet in a recurrence. Below, a scan that projects its own inputs
(passes/projection.py) runs that projection on a second thread, a chunk of steps ahead of the walk
(`_projecting`).
"""

from __future__ import annotations

import math

from kgraph.codegen.decorators import FLUSH_DENORMALS, JIT, PARALLEL_JIT, RESTORE_FLOAT_MODE, blocks_source
from kgraph.codegen.threads import SPLIT_MIN_BATCH
from kgraph.ir.ops.recurrent_layout import layout
from kgraph.ir.types import element_count_source

RM, NO, TR = 101, 111, 112
# A projected scan's inputs are projected this many steps at a time (`_projecting`): 8 x 128 @ 128 x 256 for
# the benchmark LSTM, ~6 us, a little less than the walk takes over 8 steps.
STEPS_PER_CHUNK = 8


def _act(name: str, x: str) -> str:
    return {
        "tanh": f"tanh32({x})",
        "sigmoid": f"sigmoid32({x})",
        "relu": f"max({x}, f32(0.0))",
        "hard_sigmoid": f"min(max(({x} + f32(3.0)) / f32(6.0), f32(0.0)), f32(1.0))",
        "linear": x,
    }[name]


def derivative(name: str, y: str) -> str:
    """The activation's derivative from its output `y` (a variable name)."""
    return {
        "tanh": f"(f32(1.0) - {y} * {y})",
        "sigmoid": f"({y} * (f32(1.0) - {y}))",
        "relu": f"(f32(1.0) if {y} > f32(0.0) else f32(0.0))",
        "hard_sigmoid": f"(f32(1.0) / f32(6.0) if f32(0.0) < {y} < f32(1.0) else f32(0.0))",
        "linear": "f32(1.0)",
    }[name]


def _steps(shapes) -> int:
    return shapes[0][1]


def flat_view(shape) -> tuple:
    """The view shape of an operand the kernels index flat."""
    return (element_count_source(shape),)


def _indent(lines, depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]


def _time_lines(at, steps: int) -> list[str]:
    if at["go_backwards"]:
        return [f"t = {steps - 1} - k", "tp = t + 1"]
    return ["t = k", "tp = t - 1"]


def _previous(names, stash_width: int, steps: int, state_args, offsets) -> list[str]:
    """Views of the states before step k: the initial states at k == 0, else the previous stash row."""
    u_src = "u"
    lines = ["if k == 0:"]
    lines += [
        f"    prev_{n} = view({a}, b * {u_src}, ({u_src},))" for n, a in zip(names, state_args, strict=False)
    ]
    lines += ["else:", f"    prow = (b * {steps} + tp) * {stash_width}"]
    lines += [f"    prev_{n} = view(out_stash, prow + {offsets[n]}, ({u_src},))" for n in names]
    return lines


def _at(array: str, offset) -> str:
    return f"ptr(view({array}, {offset}, (1,)))"


def _step_gemm(width, k, a, lda, b, ldb, c, ldc, trans_b=NO, beta="f32(0.0)", b_t=None) -> list[str]:
    """`C[:n, :width] = A[:n, :k] @ op(B) (+ beta * C)` for one time step: one sgemm over the walk's rows
    (an sgemv for a single row, codegen/gemm.py). `a`, `b`, `c` are (array, element offset) pairs; `b_t`
    (array, offset, leading dimension), where given, is op(B) stored as such, for the sgemm: OpenBLAS's
    sgemm with B transposed took 15.5 us on the benchmark LSTM's step gradient (32 x 256 @ (64 x 256)^T),
    9.0 us on the same product with B^T stored. A single row still reads B: sgemv prefers it.

    Every walk runs BLAS on one thread (`_split_by_rows`): a step's GEMM (64 x 64 @ 64 x 256 for the
    benchmark's LSTM) is too small to gain from a second thread, and 80 of them per scan would each pay a
    thread handoff (on a busy 2-core machine a 2-thread scan ran 30 to 300 times slower).
    """
    a_at, b_at, c_at = _at(a[0], a[1]), _at(b[0], b[1]), _at(c[0], c[1])

    def product(tb, b_arg):
        operands = f"{a_at}, {lda}, {b_arg}, {beta}, {c_at}, {ldc}"
        return f"sgemm({RM}, {NO}, {tb}, n, {width}, {k}, f32(1.0), {operands})"

    if b_t is None:
        return [product(trans_b, f"{b_at}, {ldb}")]
    return [
        "if n == 1:",
        f"    {product(trans_b, f'{b_at}, {ldb}')}",
        "else:",
        f"    {product(NO, f'{_at(b_t[0], b_t[1])}, {b_t[2]}')}",
    ]


def _splits(shapes, at) -> bool:
    """Whether the walks split the batch across Numba's threads (codegen/threads.py): from SPLIT_MIN_BATCH
    rows, counting a tape program's static batch, else the most rows a run of the program passes."""
    return (shapes[0][0] or at["batch_rows"]) >= SPLIT_MIN_BATCH


def _split_by_rows(walk, shared: set[int]):
    """A walk writer whose kernel runs the walk with BLAS on one thread: from SPLIT_MIN_BATCH rows on slices
    of the batch, one per Numba thread (the program then runs BLAS on one thread throughout); below, whole,
    with OpenBLAS set to one thread for the walk and back after.

    Split, the walk (`{name}_rows`) is written for rows 0 to n; each thread calls it on views that start
    at its first row. Operands in `shared` (weights) are not batch-major and are passed whole. A walk over
    rows `lo` to `hi` instead would leave LLVM unable to vectorize the unit loops (3x slower).
    """

    def write(name, shapes, out_shape, at):
        if not _splits(shapes, at):
            # Too few rows to split (a parallel function costs ~2 s to compile): the program keeps OpenBLAS's
            # threads for its other products, and the walk, the kernel itself (a function of its own would
            # cost a compile of its own), runs its step products on one.
            source, views = walk(name, shapes, out_shape, at)
            head, body = source.rstrip("\n").split("\n", 1)
            lines = [head, "    threads = blas_threads()", "    set_blas_threads_to(1)", body]
            return "\n".join([*lines, "    set_blas_threads_to(threads)"]) + "\n", views
        # The kernel is itself the parallel function (one slice for a short last batch): Numba compiles a
        # callee again into each caller, and a kernel choosing between the walk and a split function cost
        # the LSTM's training program ~1.2 s more cold.
        args = [f"a{i}" for i in range(len(shapes))] + ["out"]
        source, views = walk(f"{name}_rows", shapes, out_shape, at)
        widths = [math.prod(s[1:]) for s in [*shapes, out_shape]]
        sliced = [
            a if i in shared else f"view({a}, lo * {w}, ((hi - lo) * {w},))"
            for i, (a, w) in enumerate(zip(args, widths, strict=True))
        ]
        entry = [
            PARALLEL_JIT,
            f"def {name}({', '.join(args)}, n):",
            *blocks_source(
                f"max(1, min(thread_count(), n // {SPLIT_MIN_BATCH // 2}))",
                "n",
                f"{name}_rows({', '.join(sliced)}, hi - lo)",
            ),
        ]
        return "\n".join(entry) + f"\n\n\n{JIT}\n{source}", views

    return write


def _scan(name, shapes, out_shape, at):
    lay, u, steps = layout(at), at["units"], _steps(shapes)
    S, G, o = lay.stash, lay.gates * u, lay.offsets
    act, ract, cell = at["activation"], at["recurrent_activation"], at["cell"]
    states = ["h", "c"] if cell == "lstm" else ["h"]
    args = [f"a{i}" for i in range(len(shapes))]
    ld = steps * S
    # The carried states live in scratch buffers, not in views of the stash: a loop that reads a view of
    # `out` while writing `out` fails LLVM's runtime alias check and runs scalar (4x slower).
    body = [f"u = {u}"]
    for n_, a in zip(states, args[5:], strict=False):
        body += [
            f"{n_}c = np.empty(n * {u}, np.float32)",
            f"for i in range(n * {u}):",
            f"    {n_}c[i] = {a}[i]",
        ]
    body.append(f"for k in range({steps}):")
    step = _time_lines(at, steps)
    if at.get("projected"):  # the chunk of projected inputs starting at this step must be ready
        chunk = f"a0, {args[-1]}, xp, flags, k // {STEPS_PER_CHUNK}, n, {_chunk_sizes(shapes, at)}"
        step = [f"if k % {STEPS_PER_CHUNK} == 0:", f"    chunk_ready({chunk})", *step]
    step += [
        "for b in range(n):",
        f"    row = (b * {steps} + t) * {S} + {o['hop']}",
        f"    for j in range({u}):",
        f"        out[row + j] = hc[b * {u} + j] * a4[b * {u} + j]",
    ]
    first = {"simple": "h", "lstm": "i", "gru": "z"}[cell]
    width = G if cell != "gru" or at["reset_after"] else 2 * u
    step += _step_gemm(
        width, u, ("out", f"t * {S} + {o['hop']}"), ld, ("a1", 0), G, ("out", f"t * {S} + {o[first]}"), ld
    )
    x = ("xp" if at.get("projected") else "a0") + "[xrow + {} + j]"
    loop_head = [
        "for b in range(n):",
        f"    row = (b * {steps} + t) * {S}",
        f"    xrow = (b * {steps} + t) * {G}",
        f"    srow = b * {u}",
    ]
    keep = f"a3[b * {steps} + t] > f32(0.5)"
    carry = [f"out[row + {o[n_]} + j] = {n_}c[srow + j]" for n_ in states]

    def gate_loop(gate, column, fn):
        """A loop over the units computing one gate into the stash: pre-activation from the step's product,
        the projected input and the bias."""
        return [
            f"s = out[row + {o[gate]} + j] + {x.format(column)} + a2[{column} + j]",
            f"out[row + {o[gate]} + j] = {_act(fn, 's')}",
        ]

    gate_loops = []  # loops over the units before the cell's own
    if cell == "simple":
        cell_lines = [
            f"s = out[row + j] + {x.format(0)} + a2[j]",
            f"h = {_act(act, 's')}",
            "out[row + j] = h",
            "hc[srow + j] = h",
        ]
    elif cell == "lstm":
        # A loop per gate, then the state update (a GRU's too): the benchmark LSTM's gate math (32 rows, 80
        # steps) took 0.73-0.86 ms as one loop over all five activations, 0.48-0.59 ms so (a short body
        # lets the core overlap the long dependent chain of one activation across iterations); a GRU of
        # the same size 0.53-0.73 against 0.57-0.94.
        activations = {"i": ract, "f": ract, "g": act, "o": ract}  # Keras's gate order
        gate_loops = [gate_loop(gate, i * u, fn) for i, (gate, fn) in enumerate(activations.items())]
        vi, vf, vg = (f"out[row + {o[gate]} + j]" for gate in "ifg")
        cell_lines = [
            f"vo = out[row + {o['o']} + j]",
            f"c = {vf} * cc[srow + j] + {vi} * {vg}",
            f"out[row + {o['c']} + j] = c",
            "cc[srow + j] = c",
            f"h = vo * {_act(act, 'c')}",
            "out[row + j] = h",
            "hc[srow + j] = h",
        ]
    elif at["reset_after"]:
        gate_loops = [gate_loop("z", 0, ract), gate_loop("r", u, ract)]
        cell_lines = [
            f"rh = out[row + {o['rh']} + j] + a2[{2 * u} + j]",
            f"out[row + {o['rh']} + j] = rh",
            f"s = {x.format(2 * u)} + out[row + {o['r']} + j] * rh",
            f"hh = {_act(act, 's')}",
            f"out[row + {o['hh']} + j] = hh",
            f"z = out[row + {o['z']} + j]",
            "h = z * hc[srow + j] + (f32(1.0) - z) * hh",
            "out[row + j] = h",
            "hc[srow + j] = h",
        ]
    else:
        gates = [
            f"s = out[row + {o['z']} + j] + {x.format(0)}",
            f"z = {_act(ract, 's')}",
            f"s = out[row + {o['r']} + j] + {x.format(u)}",
            f"r = {_act(ract, 's')}",
            f"out[row + {o['z']} + j] = z",
            f"out[row + {o['r']} + j] = r",
            f"out[row + {o['rhop']} + j] = r * out[row + {o['hop']} + j]",
        ]
        step += [*loop_head, f"    for j in range({u}):", *_indent(gates, 2)]
        step += _step_gemm(
            u, u, ("out", f"t * {S} + {o['rhop']}"), ld, ("a1", 2 * u), G, ("out", f"t * {S} + {o['hh']}"), ld
        )
        cell_lines = [
            f"s = out[row + {o['hh']} + j] + {x.format(2 * u)}",
            f"hh = {_act(act, 's')}",
            f"out[row + {o['hh']} + j] = hh",
            f"z = out[row + {o['z']} + j]",
            "h = z * hc[srow + j] + (f32(1.0) - z) * hh",
            "out[row + j] = h",
            "hc[srow + j] = h",
        ]
    kept = []
    for lines in [*gate_loops, cell_lines]:
        kept += [f"for j in range({u}):", *_indent(lines, 1)]
    step += [*loop_head, f"    if {keep}:", *_indent(kept, 2)]
    step += ["    else:", f"        for j in range({u}):", *_indent(carry, 3)]
    body += _indent(step, 1)
    own = ["xp", "flags"] if at.get("projected") else []
    source = f"def {name}({', '.join([*args, *own, 'out', 'n'])}):\n" + "\n".join(_indent(body, 1)) + "\n"
    return source, [flat_view(s) for s in shapes] + [flat_view(out_shape)]


def _chunk_sizes(shapes, at) -> str:
    """A projected scan's sizes as `project_chunk` and `chunk_ready` take them: steps, input width, gate
    columns, steps a chunk, walking backwards."""
    steps, width, gates = shapes[0][1], shapes[0][2], layout(at).gates * at["units"]
    return f"{steps}, {width}, {gates}, {STEPS_PER_CHUNK}, {at['go_backwards']}"


def _projecting(name, shapes, out_shape, at):
    """The kernel of a `projected` scan (passes/projection.py): the walk on one thread and, on a second, the
    input projection `xp = x @ kernel` a chunk of STEPS_PER_CHUNK steps at a time, in walk order. Chunks are
    claimed with atomic flags, and the walk projects those no thread has claimed yet (codegen/threads.py's
    `chunk_ready`): on one thread (`NUMBA_NUM_THREADS=1`, or the other busy) it projects them all itself.
    The chunk helpers are compiled once with kgraph, not with each kernel."""
    steps, G = shapes[0][1], layout(at).gates * at["units"]
    args = [f"a{i}" for i in range(len(shapes))]
    walk, views = _scan(f"{name}_walk", shapes, out_shape, at)
    chunks, sizes = -(-steps // STEPS_PER_CHUNK), _chunk_sizes(shapes, at)
    source = f"""{PARALLEL_JIT}
def {name}({", ".join([*args, "out", "n"])}):
    threads = blas_threads()
    set_blas_threads_to(1)
    xp = np.empty(n * {steps * G}, np.float32)
    flags = chunk_flags({steps}, {STEPS_PER_CHUNK})
    for p in prange(2):
        {FLUSH_DENORMALS}
        if p == 0:
            {name}_walk_by_symbol({", ".join(args)}, xp, flags, out, n)
        else:
            for c in range({chunks}):
                project_chunk(a0, {args[-1]}, xp, flags, c, n, {sizes})
        {RESTORE_FLOAT_MODE}
    set_blas_threads_to(threads)


# Called by symbol: linked into the parallel function, the walk was optimized again with it (2.3 s more to
# compile, of 3.7).
{name}_walk_by_symbol = Kernel(__name__, "{name}_walk")


{JIT}
{walk}"""
    return source, views


def _outputs(name, shapes, out_shape, at):
    lay, u, steps = layout(at), at["units"], _steps(shapes[1:])
    S, rows = lay.stash, steps + lay.states
    args = [f"a{i}" for i in range(len(shapes))]
    t = f"{steps - 1} - k" if at["go_backwards"] else "k"
    copy = (
        f"f32(0.0) if a4[b * {steps} + t] < f32(0.5) else a0[src + j]" if at["zero_output"] else "a0[src + j]"
    )
    last = "0" if at["go_backwards"] else str(steps - 1)
    lines = [
        "for b in range(n):",
        f"    for k in range({steps}):",
        f"        t = {t}",
        f"        src = (b * {steps} + t) * {S}",
        f"        dst = (b * {rows} + {'t' if at.get('time_order') else 'k'}) * {u}",
        f"        for j in range({u}):",
        f"            out[dst + j] = {copy}",
        f"    src = (b * {steps} + {last}) * {S}",
        f"    for s in range({lay.states}):",
        f"        dst = (b * {rows} + {steps} + s) * {u}",
        f"        for j in range({u}):",
        f"            out[dst + j] = a0[src + s * {u} + j]",
    ]
    source = f"def {name}({', '.join([*args, 'out', 'n'])}):\n" + "\n".join(_indent(lines, 1)) + "\n"
    return source, [flat_view(s) for s in shapes] + [flat_view(out_shape)]


def _walk_back(name, shapes, out_shape, at, states_out: bool):
    lay, u, steps = layout(at), at["units"], shapes[1][1]
    S, D, G, o = lay.stash, lay.grad, lay.gates * u, lay.offsets
    act, ract, cell = at["activation"], at["recurrent_activation"], at["cell"]
    rows = steps + lay.states
    args = [f"a{i}" for i in range(len(shapes))]
    lines = [f"u = {u}", "out_stash = a1"]
    lines.append(f"d = np.empty(n * {steps * D}, np.float32)" if states_out else "d = out")
    lines += [
        f"hc = np.empty(n * {u}, np.float32)",
        f"cc = np.empty(n * {u}, np.float32)",
        f"tmp = np.empty(n * {u}, np.float32)",
        f"rt = np.empty({u * G} if n > 1 else 1, np.float32)  # the recurrent kernel transposed, for sgemm",
        "if n > 1:",
        f"    for i in range({u}):",
        f"        for j in range({G}):",
        f"            rt[j * {u} + i] = a2[i * {G} + j]",
        "for b in range(n):",
        f"    for j in range({u}):",
        f"        hc[b * {u} + j] = a0[(b * {rows} + {steps}) * {u} + j]",
    ]
    if lay.states == 2:
        lines.append(f"        cc[b * {u} + j] = a0[(b * {rows} + {steps + 1}) * {u} + j]")
    step = ["k = " + f"{steps - 1} - kk", *_time_lines(at, steps)]
    state_names = ["h", "c"] if cell == "lstm" else ["h"]
    prev = _previous(state_names, S, steps, ["a6", "a7"], o)
    g = "a0[grow + j]"
    head = [
        "for b in range(n):",
        f"    row = (b * {steps} + t) * {S}",
        f"    drow = (b * {steps} + t) * {D}",
        f"    grow = (b * {rows} + {'t' if at.get('time_order') else 'k'}) * {u}",
    ]
    masked = [
        f"dh = {'f32(0.0)' if at['zero_output'] else g} + hc[b * {u} + j]",
        f"hc[b * {u} + j] = dh",
    ]
    masked_zero = [f"for j in range({D}):", "    d[drow + j] = f32(0.0)"]

    def stash(key):
        return f"a1[row + {o[key]} + j]"

    if cell == "simple":
        live = [
            f"dh = {g} + hc[b * {u} + j]",
            f"y = {stash('h')}",
            f"d[drow + j] = dh * {derivative(act, 'y')}",
            f"hc[b * {u} + j] = f32(0.0)",
        ]
    elif cell == "lstm":
        live = [
            f"dh = {g} + hc[b * {u} + j]",
            *(f"v{k} = {stash(k)}" for k in "ifgo"),
            f"c = {stash('c')}",
            f"a = {_act(act, 'c')}",
            f"dc = cc[b * {u} + j] + dh * vo * {derivative(act, 'a')}",
            f"d[drow + j] = dc * vg * {derivative(ract, 'vi')}",
            f"d[drow + {u} + j] = dc * prev_c[j] * {derivative(ract, 'vf')}",
            f"d[drow + {2 * u} + j] = dc * vi * {derivative(act, 'vg')}",
            f"d[drow + {3 * u} + j] = dh * a * {derivative(ract, 'vo')}",
            f"cc[b * {u} + j] = dc * vf",
            f"hc[b * {u} + j] = f32(0.0)",
        ]
    else:
        live = [
            f"dh = {g} + hc[b * {u} + j]",
            f"z = {stash('z')}",
            f"r = {stash('r')}",
            f"hh = {stash('hh')}",
            f"dhh = dh * (f32(1.0) - z) * {derivative(act, 'hh')}",
            f"dz = dh * (prev_h[j] - hh) * {derivative(ract, 'z')}",
            "d[drow + j] = dz",
            f"d[drow + {2 * u} + j] = dhh",
            f"hc[b * {u} + j] = dh * z",
        ]
        if at["reset_after"]:
            live += [
                f"dr = dhh * {stash('rh')} * {derivative(ract, 'r')}",
                f"d[drow + {u} + j] = dr",
                f"d[drow + {3 * u} + j] = dz",
                f"d[drow + {4 * u} + j] = dr",
                f"d[drow + {5 * u} + j] = dhh * r",
            ]
    keep = f"a4[b * {steps} + t] > f32(0.5)"
    live_block = [f"    if {keep}:", *_indent(prev, 2), f"        for j in range({u}):", *_indent(live, 3)]
    step += [*head, *live_block, "    else:", f"        for j in range({u}):", *_indent(masked, 3)]
    step += _indent(masked_zero, 2)
    ld = steps * D
    add_tmp = [
        "for b in range(n):",
        f"    if {keep}:",
        f"        for j in range({u}):",
        f"            hc[b * {u} + j] += tmp[b * {u} + j] * a5[b * {u} + j]",
    ]
    if cell != "gru" or at["reset_after"]:
        dcol = 3 * u if cell == "gru" else 0
        d_at = ("d", f"t * {D} + {dcol}")
        step += [*_step_gemm(u, G, d_at, ld, ("a2", 0), G, ("tmp", 0), u, TR, b_t=("rt", 0, u)), *add_tmp]
    else:
        d_hh = ("d", f"t * {D} + {2 * u}")
        step += [
            *_step_gemm(u, u, d_hh, ld, ("a2", 2 * u), G, ("tmp", 0), u, TR, b_t=("rt", 2 * u * u, u)),
            "for b in range(n):",
            f"    row = (b * {steps} + t) * {S}",
            f"    drow = (b * {steps} + t) * {D}",
            f"    if {keep}:",
            f"        for j in range({u}):",
            f"            r = {stash('r')}",
            f"            d[drow + {u} + j] = tmp[b * {u} + j] * {stash('hop')} * {derivative(ract, 'r')}",
            f"            tmp[b * {u} + j] *= r",
            *_step_gemm(
                u, 2 * u, ("d", f"t * {D}"), ld, ("a2", 0), G, ("tmp", 0), u, TR, "f32(1.0)", b_t=("rt", 0, u)
            ),
            *add_tmp,
        ]
    lines += [f"for kk in range({steps}):", *_indent(step, 1)]
    if states_out:
        lines += [
            "for b in range(n):",
            f"    for j in range({u}):",
            f"        out[b * {lay.states * u} + j] = hc[b * {u} + j]",
        ]
        if lay.states == 2:
            lines.append(f"        out[b * {2 * u} + {u} + j] = cc[b * {u} + j]")
    source = f"def {name}({', '.join([*args, 'out', 'n'])}):\n" + "\n".join(_indent(lines, 1)) + "\n"
    return source, [flat_view(s) for s in shapes] + [flat_view(out_shape)]


def _kernel_grad(name, shapes, out_shape, at):
    """dU = stash[:, hop]^T @ d over all batch x time rows, one product per gate block: split across Numba's
    threads in a program whose walks split, else threaded by OpenBLAS (codegen/threads.py)."""
    lay, u = layout(at), at["units"]
    steps, S, D, G = shapes[0][1], lay.stash, lay.grad, lay.gates * u
    lines = [f"for i in range({u * G}):", "    out[i] = f32(0.0)", "if n > 0:"]
    split = _splits(shapes, at)
    for s_col, d_col, width, k_col in lay.blocks:
        if split:
            args = f"True, False, {u}, {width}, n * {steps}, a0, {s_col}, {S}, a1, {d_col}, {D}"
            lines.append(f"    sgemm_split({args}, f32(0.0), out, {k_col}, {G})")
        else:
            operands = f"{_at('a0', s_col)}, {S}, {_at('a1', d_col)}, {D}, f32(0.0), {_at('out', k_col)}, {G}"
            lines.append(f"    sgemm({RM}, {TR}, {NO}, {u}, {width}, n * {steps}, f32(1.0), {operands})")
    source = f"def {name}(a0, a1, out, n):\n" + "\n".join(_indent(lines, 1)) + "\n"
    return source, [flat_view(s) for s in shapes] + [flat_view(out_shape)]


_scan_by_rows = _split_by_rows(_scan, shared={1, 2})


def _scan_writer(name, shapes, out_shape, at):
    writer = _projecting if at.get("projected") else _scan_by_rows
    return writer(name, shapes, out_shape, at)


WRITERS = {
    "scan": _scan_writer,
    "outputs": _outputs,
    "scan_grad": _split_by_rows(lambda *a: _walk_back(*a, states_out=False), shared={2, 3}),
    "state_grad": _split_by_rows(lambda *a: _walk_back(*a, states_out=True), shared={2, 3}),
    "kernel_grad": _kernel_grad,
}

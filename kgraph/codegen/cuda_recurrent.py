"""CUDA lowerings of the recurrent scans (kgraph/ir/ops/recurrent.py defines the ops and their numpy oracles).

One block per batch row walks the whole time axis in one launch: per step, the recurrent GEMM is a
matrix-vector product by the block's threads (the previous output sits in shared memory), then the cell's
gate math per unit, with a barrier between. The backward walk keeps the carried state gradients of its row in
shared memory. Arrays are flat, indexed as the CPU kernels index them (`(b * T + t) * width + column`), so
both backends fill the same stash.

The writers are registered under "cuda" in the ops' `lowerings` when the CUDA code generator loads
(`register_lowerings`), so the op definitions stay one place and this file holds the CUDA side.
"""

from __future__ import annotations

from kgraph.codegen.cuda_loops import NT, SIMULATED
from kgraph.ir.ops.recurrent_cpu import derivative, flat_view
from kgraph.ir.ops.recurrent_layout import layout, with_static_batch
from kgraph.ir.registry import get_op

THREADS = 32 if SIMULATED else 128


def _act(name: str, x: str) -> str:
    """The cell activations as CUDA expressions (the CPU's own tanh is a host helper; the GPU has tanhf)."""
    return {
        "tanh": f"math.tanh({x})",
        "sigmoid": f"f32(1.0) / (f32(1.0) + math.exp(-{x}))",
        "relu": f"max({x}, f32(0.0))",
        "hard_sigmoid": f"min(max(({x} + f32(3.0)) / f32(6.0), f32(0.0)), f32(1.0))",
        "linear": x,
    }[name]


def _block(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]


def _time(at, steps: int) -> list[str]:
    if at["go_backwards"]:
        return [f"t = {steps - 1} - k", "tp = t + 1"]
    return ["t = k", "tp = t - 1"]


def _previous(state_args: list[str], offsets: dict, stash: str, names) -> list[str]:
    """Per-unit scalars `ph` (and `pc`): the initial state at k == 0, else the previous stash row's."""
    lines = []
    for short, key, arg in zip(("ph", "pc"), names, state_args, strict=False):
        lines += [
            "if k == 0:",
            f"    {short} = {arg}[b * U + j]",
            "else:",
            f"    {short} = {stash}[prow + {offsets[key]} + j]",
        ]
    return lines


def _host(name: str, kernel: str, args: list[str], extra: str = "") -> str:
    return (
        f"def {name}({', '.join([*args, 'out', 'n', 'stream'])}):\n{extra}"
        f"    if n > 0:\n        {kernel}[n, {THREADS}, stream]({', '.join([*args, 'out'])})\n"
    )


def _gemv(target: str, vector: str, column0: int, width: int, depth: int) -> list[str]:
    """`target(col)` = sum_i vector[i] * U[i, column0 + col] for the block's columns (U is a1, G wide)."""
    return _block(
        [
            f"for col in range(tid, {width}, {THREADS}):",
            "    acc = f32(0.0)",
            "    for i in range(U):",
            f"        acc += {vector}[i] * a1[i * G + {column0} + col]",
            f"    {target} = acc",
            "cuda.syncthreads()",
        ],
        depth,
    )


def scan_cuda(name, shapes, out_shape, at):
    lay, u, steps = layout(at), at["units"], shapes[0][1]
    S, G, o = lay.stash, lay.gates * u, lay.offsets
    act, ract, cell = at["activation"], at["recurrent_activation"], at["cell"]
    args = [f"a{i}" for i in range(len(shapes))]
    names = ("h", "c") if cell == "lstm" else ("h",)
    first = {"simple": "h", "lstm": "i", "gru": "z"}[cell]
    width = G if cell != "gru" or at["reset_after"] else 2 * u

    def x(column):
        return f"a0[xrow + {column} + j]"

    step = [
        *_time(at, steps),
        f"row = (b * T + t) * {S}",
        f"prow = (b * T + tp) * {S}",
        f"xrow = (b * T + t) * {G}",
        f"for j in range(tid, U, {THREADS}):",
        *_block(_previous(args[5:], o, "out", ("h",)), 1),
        "    hop[j] = ph * a4[b * U + j]",
        f"    out[row + {o['hop']} + j] = hop[j]",
        "cuda.syncthreads()",
        *_gemv(f"out[row + {o[first]} + col]", "hop", 0, width, 0),
    ]
    if cell == "gru" and not at["reset_after"]:
        step += [
            f"for j in range(tid, U, {THREADS}):",
            f"    s = out[row + {o['z']} + j] + {x(0)}",
            f"    out[row + {o['z']} + j] = {_act(ract, 's')}",
            f"    s = out[row + {o['r']} + j] + {x(u)}",
            f"    r = {_act(ract, 's')}",
            f"    out[row + {o['r']} + j] = r",
            "    rhop[j] = r * hop[j]",
            f"    out[row + {o['rhop']} + j] = rhop[j]",
            "cuda.syncthreads()",
            *_gemv(f"out[row + {o['hh']} + col]", "rhop", 2 * u, u, 0),
        ]
    if cell == "simple":
        live = [f"s = out[row + j] + {x(0)} + a2[j]", f"out[row + j] = {_act(act, 's')}"]
    elif cell == "lstm":
        live = []
        for gate, fn, column in (("i", ract, 0), ("f", ract, u), ("g", act, 2 * u), ("o", ract, 3 * u)):
            live += [
                f"s = out[row + {o[gate]} + j] + {x(column)} + a2[{column} + j]",
                f"v{gate} = {_act(fn, 's')}",
                f"out[row + {o[gate]} + j] = v{gate}",
            ]
        live += [
            "c = vf * pc + vi * vg",
            f"out[row + {o['c']} + j] = c",
            f"out[row + j] = vo * {_act(act, 'c')}",
        ]
    elif at["reset_after"]:
        live = [
            f"s = out[row + {o['z']} + j] + {x(0)} + a2[j]",
            f"z = {_act(ract, 's')}",
            f"s = out[row + {o['r']} + j] + {x(u)} + a2[{u} + j]",
            f"r = {_act(ract, 's')}",
            f"rh = out[row + {o['rh']} + j] + a2[{2 * u} + j]",
            f"out[row + {o['rh']} + j] = rh",
            f"s = {x(2 * u)} + r * rh",
            f"hh = {_act(act, 's')}",
            f"out[row + {o['z']} + j] = z",
            f"out[row + {o['r']} + j] = r",
            f"out[row + {o['hh']} + j] = hh",
            "out[row + j] = z * ph + (f32(1.0) - z) * hh",
        ]
    else:
        live = [
            f"s = out[row + {o['hh']} + j] + {x(2 * u)}",
            f"hh = {_act(act, 's')}",
            f"out[row + {o['hh']} + j] = hh",
            f"z = out[row + {o['z']} + j]",
            "out[row + j] = z * ph + (f32(1.0) - z) * hh",
        ]
    carry = [f"out[row + {o['h']} + j] = ph"] + ([f"out[row + {o['c']} + j] = pc"] if cell == "lstm" else [])
    step += [
        "keep = a3[b * T + t] > f32(0.5)",
        f"for j in range(tid, U, {THREADS}):",
        *_block(_previous(args[5:], o, "out", names), 1),
        "    if keep:",
        *_block(live, 2),
        "    else:",
        *_block(carry, 2),
        "cuda.syncthreads()",
    ]
    kernel = [
        "@cuda.jit(cache=CACHE)",
        f"def {name}_walk({', '.join([*args, 'out'])}):",
        f"    U, G, T = {u}, {G}, {steps}",
        "    b = cuda.blockIdx.x",
        "    tid = cuda.threadIdx.x",
        f"    hop = cuda.shared.array({u}, float32)",
        f"    rhop = cuda.shared.array({u}, float32)",
        "    for k in range(T):",
        *_block(step, 2),
    ]
    source = "\n".join(kernel) + "\n\n\n" + _host(name, f"{name}_walk", args)
    return source, [flat_view(s) for s in shapes] + [flat_view(out_shape)]


def outputs_cuda(name, shapes, out_shape, at):
    lay, u, steps = layout(at), at["units"], shapes[1][1]
    S, rows = lay.stash, steps + lay.states
    args = [f"a{i}" for i in range(len(shapes))]
    t = f"{steps - 1} - r" if at["go_backwards"] and not at.get("time_order") else "r"
    value = "a0[src + j]"
    if at["zero_output"]:
        value = f"f32(0.0) if a4[b * {steps} + t] < f32(0.5) else a0[src + j]"
    last = "0" if at["go_backwards"] else str(steps - 1)
    kernel = f"""@cuda.jit(cache=CACHE)
def {name}_copy({", ".join([*args, "out"])}):
    e = cuda.grid(1)
    if e >= out.size:
        return
    j = e % {u}
    r = e // {u} % {rows}
    b = e // {u * rows}
    if r < {steps}:
        t = {t}
        src = (b * {steps} + t) * {S}
        out[e] = {value}
    else:
        out[e] = a0[(b * {steps} + {last}) * {S} + (r - {steps}) * {u} + j]


def {name}({", ".join([*args, "out", "n", "stream"])}):
    {name}_copy[blocks(out.size, {NT}), {NT}, stream]({", ".join([*args, "out"])})
"""
    return kernel, [flat_view(s) for s in shapes] + [flat_view(out_shape)]


def walk_back_cuda(name, shapes, out_shape, at, states_out: bool):
    lay, u, steps = layout(at), at["units"], shapes[1][1]
    S, D, G, o = lay.stash, lay.grad, lay.gates * u, lay.offsets
    act, ract, cell = at["activation"], at["recurrent_activation"], at["cell"]
    rows = steps + lay.states
    args = [f"a{i}" for i in range(len(shapes))]
    names = ("h", "c") if cell == "lstm" else ("h",)
    g = "a0[grow + j]"

    def stash(key):
        return f"a1[row + {o[key]} + j]"

    if cell == "simple":
        live = [
            f"dh = {g} + hc[j]",
            f"y = {stash('h')}",
            f"d[drow + j] = dh * {derivative(act, 'y')}",
            "hc[j] = f32(0.0)",
        ]
    elif cell == "lstm":
        live = [
            f"dh = {g} + hc[j]",
            *(f"v{k} = {stash(k)}" for k in "ifgo"),
            f"c = {stash('c')}",
            f"a = {_act(act, 'c')}",
            f"dc = cc[j] + dh * vo * {derivative(act, 'a')}",
            f"d[drow + j] = dc * vg * {derivative(ract, 'vi')}",
            f"d[drow + {u} + j] = dc * pc * {derivative(ract, 'vf')}",
            f"d[drow + {2 * u} + j] = dc * vi * {derivative(act, 'vg')}",
            f"d[drow + {3 * u} + j] = dh * a * {derivative(ract, 'vo')}",
            "cc[j] = dc * vf",
            "hc[j] = f32(0.0)",
        ]
    else:
        live = [
            f"dh = {g} + hc[j]",
            f"z = {stash('z')}",
            f"r = {stash('r')}",
            f"hh = {stash('hh')}",
            f"dhh = dh * (f32(1.0) - z) * {derivative(act, 'hh')}",
            f"dz = dh * (ph - hh) * {derivative(ract, 'z')}",
            "d[drow + j] = dz",
            f"d[drow + {2 * u} + j] = dhh",
            "hc[j] = dh * z",
        ]
        if at["reset_after"]:
            live += [
                f"dr = dhh * {stash('rh')} * {derivative(ract, 'r')}",
                f"d[drow + {u} + j] = dr",
                f"d[drow + {3 * u} + j] = dz",
                f"d[drow + {4 * u} + j] = dr",
                f"d[drow + {5 * u} + j] = dhh * r",
            ]
    masked = [f"dh = {'f32(0.0)' if at['zero_output'] else g} + hc[j]", "hc[j] = dh"]
    step = [
        f"k = {steps - 1} - kk",
        *_time(at, steps),
        f"row = (b * T + t) * {S}",
        f"prow = (b * T + tp) * {S}",
        f"drow = (b * T + t) * {D}",
        f"grow = (b * {rows} + {'t' if at.get('time_order') else 'k'}) * U",
        "keep = a4[b * T + t] > f32(0.5)",
        f"for j in range(tid, U, {THREADS}):",
        "    if keep:",
        *_block(_previous(["a6", "a7"], o, "a1", names), 2),
        *_block(live, 2),
        "    else:",
        *_block(masked, 2),
        "if not keep:",
        f"    for col in range(tid, {D}, {THREADS}):",
        "        d[drow + col] = f32(0.0)",
        "cuda.syncthreads()",
    ]

    def back_gemv(d_col: int, u_col: int, width: int, accumulate: bool) -> list[str]:
        """tmp[j] (+)= sum_col d[drow + d_col + col] * U[j, u_col + col] (the GEMM with U transposed)."""
        return [
            f"for j in range(tid, U, {THREADS}):",
            f"    acc = {'tmp[j]' if accumulate else 'f32(0.0)'}",
            f"    for col in range({width}):",
            f"        acc += d[drow + {d_col} + col] * a2[j * G + {u_col} + col]",
            "    tmp[j] = acc",
            "cuda.syncthreads()",
        ]

    add_tmp = [
        f"for j in range(tid, U, {THREADS}):",
        "    if keep:",
        "        hc[j] += tmp[j] * a5[b * U + j]",
        "cuda.syncthreads()",
    ]
    if cell != "gru" or at["reset_after"]:
        step += [*back_gemv(3 * u if cell == "gru" else 0, 0, G, False), *add_tmp]
    else:
        step += [
            *back_gemv(2 * u, 2 * u, u, False),
            f"for j in range(tid, U, {THREADS}):",
            "    if keep:",
            f"        r = {stash('r')}",
            f"        d[drow + {u} + j] = tmp[j] * {stash('hop')} * {derivative(ract, 'r')}",
            "        tmp[j] *= r",
            "cuda.syncthreads()",
            *back_gemv(0, 0, 2 * u, True),
            *add_tmp,
        ]
    init = [
        f"for j in range(tid, U, {THREADS}):",
        f"    hc[j] = a0[(b * {rows} + {steps}) * U + j]",
        f"    cc[j] = {f'a0[(b * {rows} + {steps + 1}) * U + j]' if lay.states == 2 else 'f32(0.0)'}",
        "cuda.syncthreads()",
    ]
    finish = []
    if states_out:
        finish = [f"for j in range(tid, U, {THREADS}):", f"    out[b * {lay.states} * U + j] = hc[j]"]
        if lay.states == 2:
            finish.append("    out[b * 2 * U + U + j] = cc[j]")
    params = [*args, "d", "out"]
    kernel = [
        "@cuda.jit(cache=CACHE)",
        f"def {name}_walk({', '.join(params)}):",
        f"    U, G, T = {u}, {G}, {steps}",
        "    b = cuda.blockIdx.x",
        "    tid = cuda.threadIdx.x",
        f"    hc = cuda.shared.array({u}, float32)",
        f"    cc = cuda.shared.array({u}, float32)",
        f"    tmp = cuda.shared.array({u}, float32)",
        *_block(init, 1),
        f"    for kk in range({steps}):",
        *_block(step, 2),
        *_block(finish, 1),
    ]
    if states_out:  # the pre-activation gradients are scratch here: a buffer kept per size
        host = (
            f"_{name}_scratch = {{}}\n\n\ndef {name}({', '.join([*args, 'out', 'n', 'stream'])}):\n"
            f"    d = _{name}_scratch.get(n)\n"
            "    if d is None:\n"
            f"        d = _{name}_scratch[n] = cuda.device_array(max(n, 1) * {steps * D}, np.float32)\n"
            f"    if n > 0:\n        {name}_walk[n, {THREADS}, stream]({', '.join([*args, 'd', 'out'])})\n"
        )
    else:
        host = (
            f"def {name}({', '.join([*args, 'out', 'n', 'stream'])}):\n"
            f"    if n > 0:\n        {name}_walk[n, {THREADS}, stream]({', '.join([*args, 'out', 'out'])})\n"
        )
    return "\n".join(kernel) + "\n\n\n" + host, [flat_view(s) for s in shapes] + [flat_view(out_shape)]


def kernel_grad_cuda(name, shapes, out_shape, at):
    """dU[i, col] = sum over rows (b, t) of stash[hop part][i] * d[col]: a thread per element of dU."""
    lay, u = layout(at), at["units"]
    steps, S, D, G = shapes[0][1], lay.stash, lay.grad, lay.gates * u
    lines = [
        "@cuda.jit(cache=CACHE)",
        f"def {name}_sum(a0, a1, out, rows):",
        "    e = cuda.grid(1)",
        f"    if e >= {u * G}:",
        "        return",
        f"    i = e // {G}",
        f"    col = e % {G}",
        "    acc = f32(0.0)",
    ]
    for s_col, d_col, width, k_col in lay.blocks:
        lines += [
            f"    if {k_col} <= col < {k_col + width}:",
            "        for q in range(rows):",
            f"            acc += a0[q * {S} + {s_col} + i] * a1[q * {D} + {d_col} + col - {k_col}]",
        ]
    lines.append("    out[e] = acc")
    host = (
        f"def {name}(a0, a1, out, n, stream):\n"
        f"    {name}_sum[blocks({u * G}, {NT}), {NT}, stream](a0, a1, out, n * {steps})\n"
    )
    return "\n".join(lines) + "\n\n\n" + host, [flat_view(s) for s in shapes] + [flat_view(out_shape)]


WRITERS = {
    "rnn_scan": scan_cuda,
    "rnn_outputs": outputs_cuda,
    "rnn_scan_grad": lambda *a: walk_back_cuda(*a, states_out=False),
    "rnn_state_grad": lambda *a: walk_back_cuda(*a, states_out=True),
    "rnn_kernel_grad": kernel_grad_cuda,
}


def _unprojected(writer):
    def write(name, shapes, out_shape, attrs):
        if attrs.get("projected"):  # formed for the CPU only (passes/pipeline.py)
            raise NotImplementedError("A projected recurrent scan has no CUDA kernel.")
        return writer(name, shapes, out_shape, attrs)

    return write


def register_lowerings() -> None:
    """Adds these writers under "cuda" to the recurrent ops that do not have one yet."""
    for op, writer in WRITERS.items():
        get_op(op).lowerings.setdefault("cuda", with_static_batch(_unprojected(writer)))

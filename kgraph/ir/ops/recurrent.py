"""Recurrent scans: the time loop of SimpleRNN, LSTM and GRU as opaque ops, and backpropagation through time.

A recurrent layer computes its input projection `xp = x @ kernel + bias` for all steps with one `matmul`;
the scan then walks time: per step one GEMM `hop @ recurrent_kernel` (`hop` is the previous output, times
the recurrent-dropout mask) and the cell's gate math over batch x units. The ops:

- `rnn_scan(xp, U, brec, mask, rmask, *states) -> stash (B, T, S)`: per time position, everything the backward
  pass needs (the new state, post-activation gates, the GEMM operand). No gradient of its own.
- `rnn_outputs(stash, xp, U, brec, mask, rmask, *states) -> (B, T + len(states), units)`: the output sequence
  in Keras's order (processing order, so reversed under `go_backwards`) followed by the final states. Its
  value is copied from the stash; its reference recomputes the scan, so it is a function of its real inputs
  and its gradient rule can emit the backward scan with the stash as its saved residual (the pattern of a
  custom VJP). Slicing this small value, not the stash, keeps the stash out of the gradient's way.
- `rnn_scan_grad(g, stash, U, brec, mask, rmask, *states) -> (B, T, D)`: walks time in reverse; the gradient
  of the pre-activations per step (for GRU with `reset_after`, also of the recurrent part). With LSTM and
  SimpleRNN it is the gradient of `xp` itself.
- `rnn_state_grad(...)`: the same walk, returning the gradient of the initial states (B, states * units);
  it is dead code, and removed, unless initial states come from trained values.
- `rnn_kernel_grad(stash, d) -> (units, G * units)`: the recurrent kernel's gradient as one GEMM over all
  batch rows and steps, reading the GEMM operands straight out of the stash.

With the attribute `projected` (passes/projection.py: a small batch on the CPU), `rnn_scan` and
`rnn_outputs` take the layer's input `x` in place of `xp` and the input kernel last, and the scan computes
`xp = x @ kernel` itself, a few steps ahead of the walk on a second thread.

Masks follow Keras: a masked step keeps the previous states and outputs the previous output (or zeros with
`zero_output_for_mask`). Attributes: cell ('simple', 'lstm', 'gru'), units, activation,
recurrent_activation, go_backwards, reset_after, zero_output, and time_order (outputs in time order even
under go_backwards: Bidirectional's backward half, which would otherwise flip them back).
"""

from __future__ import annotations

import numpy as np

from kgraph.ir.builder import emit
from kgraph.ir.ops.recurrent_layout import layout, with_static_batch
from kgraph.ir.registry import OpDef, infer_error, register
from kgraph.ir.types import TensorType, format_shape

ACTIVATIONS = ("tanh", "sigmoid", "relu", "hard_sigmoid", "linear")


def check_activation(name, layer: str, argument: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Layer '{layer}': the compiled recurrent cell supports {argument} in {list(ACTIVATIONS)}, "
            f"received {name!r}."
        )


# --- numpy definitions (the oracle of the CPU kernels) -----------------------------------------------------
def activate(name: str, x):
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "relu":
        return np.maximum(x, 0)
    if name == "hard_sigmoid":
        return np.clip((x + 3) / 6, 0, 1)
    return x


def derivative(name: str, y):
    """The activation's derivative, from its output `y`."""
    if name == "tanh":
        return 1 - y * y
    if name == "sigmoid":
        return y * (1 - y)
    if name == "relu":
        return (y > 0).astype(y.dtype)
    if name == "hard_sigmoid":
        return ((y > 0) & (y < 1)).astype(y.dtype) / 6
    return np.ones_like(y)


def _time(k: int, steps: int, backwards: bool) -> int:
    return steps - 1 - k if backwards else k


def unprojected(xs, at) -> list:
    """A scan's operands with `xp` first: computed from `x` and the input kernel for a `projected` scan."""
    if not at.get("projected"):
        return list(xs)
    x, *rest, kernel = xs
    return [x @ kernel, *rest]


def _scan_reference(xs, at, ctx=None):
    xp, U, brec, mask, rmask, *states = unprojected(xs, at)
    lay, u, act, ract = layout(at), at["units"], at["activation"], at["recurrent_activation"]
    batch, steps = xp.shape[:2]
    stash = np.zeros((batch, steps, lay.stash), xp.dtype)
    h = states[0]
    c = states[1] if at["cell"] == "lstm" else None
    col = lay.offsets

    def put(t, name, value):
        stash[:, t, col[name] : col[name] + u] = value

    for k in range(steps):
        t = _time(k, steps, at["go_backwards"])
        keep = mask[:, t : t + 1] > 0.5
        hop = h * rmask
        x = xp[:, t]
        if at["cell"] == "simple":
            new_h = activate(act, x + hop @ U + brec)
        elif at["cell"] == "lstm":
            z = x + hop @ U + brec
            i, f = activate(ract, z[:, :u]), activate(ract, z[:, u : 2 * u])
            g, o = activate(act, z[:, 2 * u : 3 * u]), activate(ract, z[:, 3 * u :])
            new_c = f * c + i * g
            new_h = o * activate(act, new_c)
            for name, value in (("i", i), ("f", f), ("g", g), ("o", o)):
                put(t, name, value)
            c = np.where(keep, new_c, c)
            put(t, "c", c)
        else:
            if at["reset_after"]:
                rec = hop @ U + brec
                z = activate(ract, x[:, :u] + rec[:, :u])
                r = activate(ract, x[:, u : 2 * u] + rec[:, u : 2 * u])
                put(t, "rh", rec[:, 2 * u :])
                hh = activate(act, x[:, 2 * u :] + r * rec[:, 2 * u :])
            else:
                rec = hop @ U[:, : 2 * u]
                z = activate(ract, x[:, :u] + rec[:, :u])
                r = activate(ract, x[:, u : 2 * u] + rec[:, u:])
                put(t, "rhop", r * hop)
                hh = activate(act, x[:, 2 * u :] + (r * hop) @ U[:, 2 * u :])
            new_h = z * h + (1 - z) * hh
            for name, value in (("z", z), ("r", r), ("hh", hh)):
                put(t, name, value)
        put(t, "hop", hop)
        h = np.where(keep, new_h, h)
        put(t, "h", h)
    return stash


def _outputs_reference(xs, at, ctx=None):
    stash = _scan_reference(xs[1:], at, ctx)
    return outputs_from_stash(stash, xs[4], at)


def outputs_from_stash(stash, mask, at):
    lay, u = layout(at), at["units"]
    batch, steps = stash.shape[:2]
    order = [_time(k, steps, at["go_backwards"]) for k in range(steps)]
    out = np.zeros((batch, steps + lay.states, u), stash.dtype)
    shown = list(range(steps)) if at.get("time_order") else order
    out[:, :steps] = stash[:, shown, :u]
    if at["zero_output"]:
        out[:, :steps] *= mask[:, shown, None] > 0.5
    last = order[-1]
    out[:, steps] = stash[:, last, :u]
    if lay.states == 2:
        out[:, steps + 1] = stash[:, last, u : 2 * u]
    return out


def _walk_back(xs, at):
    """Backpropagation through time in numpy: (gradient rows per time position, initial-state gradients)."""
    g, stash, U, brec, mask, rmask, *states = xs
    lay, u, act, ract = layout(at), at["units"], at["activation"], at["recurrent_activation"]
    batch, steps = stash.shape[:2]
    col = lay.offsets
    d = np.zeros((batch, steps, lay.grad), g.dtype)
    dh_carry = g[:, steps]
    dc_carry = g[:, steps + 1] if lay.states == 2 else None

    def get(t, name):
        return stash[:, t, col[name] : col[name] + u]

    for k in reversed(range(steps)):
        t = _time(k, steps, at["go_backwards"])
        keep = mask[:, t : t + 1] > 0.5
        previous = _time(k - 1, steps, at["go_backwards"])
        gk = g[:, t if at.get("time_order") else k]
        gk = gk * keep if at["zero_output"] else gk
        dh = gk + dh_carry
        direct = 0
        if at["cell"] == "simple":
            dz = dh * derivative(act, get(t, "h"))
            dhop = dz @ U.T
        elif at["cell"] == "lstm":
            i, f, gg, o = (get(t, n) for n in ("i", "f", "g", "o"))
            a = activate(act, get(t, "c"))
            c_prev = states[1] if k == 0 else get(previous, "c")
            dc = dc_carry + dh * o * derivative(act, a)
            dz = np.concatenate(
                [
                    dc * gg * derivative(ract, i),
                    dc * c_prev * derivative(ract, f),
                    dc * i * derivative(act, gg),
                    dh * a * derivative(ract, o),
                ],
                axis=1,
            )
            dhop = dz @ U.T
            dc_carry = np.where(keep, dc * f, dc_carry)
        else:
            z, r, hh = get(t, "z"), get(t, "r"), get(t, "hh")
            h_prev = states[0] if k == 0 else get(previous, "h")
            dhh = dh * (1 - z) * derivative(act, hh)
            dzp = dh * (h_prev - hh) * derivative(ract, z)
            direct = dh * z
            if at["reset_after"]:
                drp = dhh * get(t, "rh") * derivative(ract, r)
                dz = np.concatenate([dzp, drp, dhh, dzp, drp, dhh * r], axis=1)
                dhop = dz[:, 3 * u :] @ U.T
            else:
                drhop = dhh @ U[:, 2 * u :].T
                drp = drhop * get(t, "hop") * derivative(ract, r)
                dz = np.concatenate([dzp, drp, dhh], axis=1)
                dhop = drhop * r + dz[:, : 2 * u] @ U[:, : 2 * u].T
        d[:, t] = np.where(keep, dz, 0)
        dh_carry = np.where(keep, dhop * rmask + direct, dh)
    carries = [dh_carry] + ([dc_carry] if lay.states == 2 else [])
    return d, np.concatenate(carries, axis=1)


def _kernel_grad_reference(xs, at, ctx=None):
    stash, d = xs
    lay, u = layout(at), at["units"]
    out = np.zeros((u, lay.gates * u), d.dtype)
    rows = stash.shape[0] * stash.shape[1]
    for s_col, d_col, width, k_col in lay.blocks:
        a = stash.reshape(rows, -1)[:, s_col : s_col + u]
        out[:, k_col : k_col + width] = a.T @ d.reshape(rows, -1)[:, d_col : d_col + width]
    return out


# --- shape rules -------------------------------------------------------------------------------------------
def _check_scan_inputs(types, at, origin):
    lay, u = layout(at), at["units"]
    if at.get("projected"):
        x, *types, kernel = types
        want = (x.shape[-1], lay.gates * u)
        if x.rank != 3 or tuple(kernel.shape) != want:
            raise infer_error(
                origin,
                f"a projected scan's input kernel should have shape {format_shape(want)} for its input "
                f"{format_shape(x.shape)}, received {format_shape(kernel.shape)}.",
            )
        types = [TensorType((*x.shape[:2], lay.gates * u), "float32"), *types]
    xp, U, brec, mask, rmask, *states = types
    batch, steps = xp.shape[0], xp.shape[1] if xp.rank == 3 else None
    expected = {
        "projected inputs": (xp.shape, (batch, steps, lay.gates * u)),
        "recurrent kernel": (U.shape, (u, lay.gates * u)),
        "recurrent bias": (brec.shape, (lay.gates * u,)),
        "mask": (mask.shape, (batch, steps)),
        "recurrent dropout mask": (rmask.shape, (batch, u)),
    }
    expected.update({f"state {i}": (s.shape, (batch, u)) for i, s in enumerate(states)})
    if len(states) != lay.states:
        raise infer_error(origin, f"a {at['cell']} scan takes {lay.states} states, received {len(states)}.")
    for what, (got, want) in expected.items():
        if tuple(got) != tuple(want) or steps is None:
            raise infer_error(
                origin,
                f"the scan's {what} should have shape {format_shape(want)}, received {format_shape(got)}.",
            )
    return batch, steps, lay


def _scan_infer(types, at, origin):
    batch, steps, lay = _check_scan_inputs(types, at, origin)
    return TensorType((batch, steps, lay.stash), "float32")


def _outputs_infer(types, at, origin):
    batch, steps, lay = _check_scan_inputs(types[1:], at, origin)
    return TensorType((batch, steps + lay.states, at["units"]), "float32")


def _scan_grad_infer(types, at, origin):
    stash = types[1]
    return TensorType((*stash.shape[:2], layout(at).grad), "float32")


def _state_grad_infer(types, at, origin):
    return TensorType((types[1].shape[0], layout(at).states * at["units"]), "float32")


def _kernel_grad_infer(types, at, origin):
    return TensorType((at["units"], layout(at).gates * at["units"]), "float32")


# --- gradient ----------------------------------------------------------------------------------------------
def _outputs_grad(x, y, g, at):
    if at.get("projected"):
        raise NotImplementedError(
            "A projected scan is formed after gradients are derived (passes/projection.py)."
        )
    stash, xp, U, brec, mask, rmask, *states = x
    u, lay = at["units"], layout(at)
    d = emit("rnn_scan_grad", g, stash, U, brec, mask, rmask, *states, **at)
    dU = emit("rnn_kernel_grad", stash, d, **at)
    dxp, dbrec = d, None
    if lay.grad != lay.gates * u:  # GRU with reset_after: [d xp | d recurrent part]
        dxp = emit("slice", d, axis=2, start=0, stop=3 * u)
        recurrent = emit("slice", d, axis=2, start=3 * u, stop=6 * u)
        dbrec = emit("sum", recurrent, axes=(0, 1), keepdims=False)
    elif at["cell"] != "gru":  # brec adds to the gates as xp does (a GRU without reset_after ignores it)
        dbrec = emit("sum", d, axes=(0, 1), keepdims=False)
    carried = emit("rnn_state_grad", g, stash, U, brec, mask, rmask, *states, **at)
    dstates = [emit("slice", carried, axis=1, start=i * u, stop=(i + 1) * u) for i in range(len(states))]
    return [None, dxp, dU, dbrec, None, None, *dstates]


def _cpu(kind):
    def writer(name, shapes, out_shape, attrs):
        from kgraph.ir.ops.recurrent_cpu import WRITERS

        return WRITERS[kind](name, shapes, out_shape, attrs)

    return with_static_batch(writer)


register(OpDef("rnn_scan", "opaque", _scan_infer, _scan_reference, lowerings={"cpu": _cpu("scan")}))
register(
    OpDef(
        "rnn_outputs",
        "opaque",
        _outputs_infer,
        _outputs_reference,
        _outputs_grad,
        lowerings={"cpu": _cpu("outputs")},
    )
)
register(
    OpDef(
        "rnn_scan_grad",
        "opaque",
        _scan_grad_infer,
        lambda xs, at, ctx: _walk_back(xs, at)[0],
        lowerings={"cpu": _cpu("scan_grad")},
    )
)
register(
    OpDef(
        "rnn_state_grad",
        "opaque",
        _state_grad_infer,
        lambda xs, at, ctx: _walk_back(xs, at)[1],
        lowerings={"cpu": _cpu("state_grad")},
    )
)
register(
    OpDef(
        "rnn_kernel_grad",
        "opaque",
        _kernel_grad_infer,
        _kernel_grad_reference,
        lowerings={"cpu": _cpu("kernel_grad")},
    )
)

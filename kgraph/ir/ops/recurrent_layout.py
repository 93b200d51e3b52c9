"""Where a recurrent cell keeps its values: the column layout shared by the scan ops and their CPU and CUDA
kernels (`recurrent`, `recurrent_cpu`, `codegen/cuda_recurrent`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Where a cell keeps things: column offsets in a stash row, and the backward's output columns."""

    gates: int  # G: the recurrent kernel is (units, G * units)
    states: int
    stash: int  # S: stash row width
    offsets: dict  # name -> column of a stash row
    grad: int  # D: columns of rnn_scan_grad's rows
    blocks: tuple  # (stash column, grad column, width, kernel column): the GEMMs of rnn_kernel_grad


def layout(attrs) -> Layout:
    u, cell = attrs["units"], attrs["cell"]
    if cell == "simple":
        return Layout(1, 1, 2 * u, {"h": 0, "hop": u}, u, ((u, 0, u, 0),))
    if cell == "lstm":
        names = ("h", "c", "i", "f", "g", "o", "hop")
        return Layout(4, 2, 7 * u, {k: n * u for n, k in enumerate(names)}, 4 * u, ((6 * u, 0, 4 * u, 0),))
    if attrs["reset_after"]:
        names = ("h", "z", "r", "rh", "hh", "hop")
        return Layout(
            3, 1, 6 * u, {k: n * u for n, k in enumerate(names)}, 6 * u, ((5 * u, 3 * u, 3 * u, 0),)
        )
    names = ("h", "z", "r", "hh", "hop", "rhop")
    blocks = ((4 * u, 0, 2 * u, 0), (5 * u, 2 * u, u, 2 * u))
    return Layout(3, 1, 6 * u, {k: n * u for n, k in enumerate(names)}, 3 * u, blocks)


def with_static_batch(writer):
    """A recurrent kernel writer whose entry function `name(..., out, n[, stream])` reads `n` as the batch.

    In a batch program `n` is the rows of the batch. A tape program (GradientTape, `kgraph.function`) runs its
    whole feeds as one row (`n` is 1) and knows the batch from the shapes: the entry function rebinds `n`.
    """

    def write(name, shapes, out_shape, attrs):
        source, views = writer(name, shapes, out_shape, attrs)
        batch = shapes[0][0]
        if batch is None:
            return source, views
        head = f"def {name}("
        start = source.index(head) if source.startswith(head) else source.index("\n" + head) + 1
        end = source.index(":\n", start) + 2
        rebind = f"    n = {batch}  # a tape program's batch, fixed by its shapes\n"
        return source[:end] + rebind + source[end:], views

    return write

"""`optimizer.apply_gradients` on a tape's gradients: one compiled update instead of numpy per weight.

`tape.gradient` returns views into one fresh flat buffer and remembers them. When `apply_gradients` receives
exactly such views, the update is traced once (Keras's per-weight order: clipping, weight decay, the update
rule, constraints, the iteration count, as `Optimizer.apply` does eagerly), compiled against the tape store
that already holds the weights, and run with the buffer as its one input. Any other gradients (arrays the
user computed, clipped or combined) take the eager path.
"""

from __future__ import annotations

import numpy as np

from kgraph import ops
from kgraph.ir.builder import Sym, current_graph, origin, tracing
from kgraph.ir.graph import Graph
from kgraph.tape_store import TapeProgram
from kgraph.variables import Variable

# The last gradients a tape returned: the buffer, and id(view) -> (view, (offset, size, shape)).
_last: dict = {"buffer": None, "views": {}}


def remember_gradients(buffer: np.ndarray, grads: list, slices: list) -> None:
    _last["buffer"] = buffer
    _last["views"] = {id(g): (g, s) for g, s in zip(grads, slices, strict=True) if g is not None}


def apply_compiled(optimizer, pairs: list) -> bool:
    """Runs the compiled update when `pairs` hold the last tape gradients; False leaves it to the caller."""
    if not pairs or current_graph() is not None:
        return False
    views = _last["views"]
    slices = []
    for grad, variable in pairs:
        if grad is None:
            slices.append(None)
            continue
        known = views.get(id(grad))
        if known is None or known[0] is not grad or not isinstance(variable, Variable):
            return False
        slices.append(known[1])
    buffer = _last["buffer"]
    key = (tuple(v.key for _, v in pairs), tuple(slices), buffer.size)
    programs = optimizer.__dict__.setdefault("_tape_updates", {})
    program = programs.get(key)
    if program is None or program.stale:
        program = _update_program(optimizer, [v for _, v in pairs], slices, buffer.size)
        programs[key] = program
    program.run([buffer.reshape(1, -1)])
    return True


def _update_program(optimizer, variables: list[Variable], slices: list, size: int) -> TapeProgram:
    graph = Graph()
    with tracing(graph), origin("optimizer"):
        flat = Sym(graph, graph.add("input", name="grads", shape=(size,), dtype="float32"))
        grads = [
            None if s is None else ops.reshape(flat[s[0] : s[0] + s[1]], s[2]) if s[2] else flat[s[0]]
            for s in slices
        ]
        optimizer.apply(grads, variables)
    return TapeProgram(graph, ["grads"], f"{optimizer.name} update")

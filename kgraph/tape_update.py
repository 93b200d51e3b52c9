"""`optimizer.apply_gradients` on a tape's gradients: one compiled update instead of numpy per weight.

`tape.gradient` returns views into a flat buffer of its own and remembers them. When `apply_gradients` gets
exactly those views, the update is traced once (Keras's per-weight order: clipping, weight decay, the update
rule, constraints, the iteration count, as `Optimizer.apply` does eagerly), compiled against the tape store
that already holds the weights, and run with the buffer as its one input. Any other gradients (arrays the
user computed, clipped or combined) take the eager path.
"""

from __future__ import annotations

import numpy as np

from kgraph import ops
from kgraph.ir.builder import Sym, current_graph, origin, tracing
from kgraph.ir.graph import Graph
from kgraph.tape_store import TapeProgram, store_for
from kgraph.variables import Variable

# The last gradients a tape returned: their flat buffer as the 1 x size row the update takes, the views into
# it, and their (offset, size, shape).
_last: dict = {"row": None, "grads": [], "slices": []}


def remember_gradients(row: np.ndarray, grads: list, slices: list) -> None:
    _last["row"], _last["grads"], _last["slices"] = row, grads, slices


def _slices(pairs: list) -> list | None:
    """Where each gradient of `pairs` lies in the last buffer, or None if one is not a view the tape made."""
    grads, slices = _last["grads"], _last["slices"]
    if len(pairs) == len(grads) and all(p[0] is g for p, g in zip(pairs, grads, strict=True)):
        return slices  # the usual case: the tape's list, in its order
    where = {id(g): s for g, s in zip(grads, slices, strict=True) if g is not None}  # alive: ids are unique
    found = []
    for grad, _ in pairs:
        if grad is not None and id(grad) not in where:
            return None
        found.append(None if grad is None else where[id(grad)])
    return found


def apply_compiled(optimizer, pairs: list) -> bool:
    """Runs the compiled update when `pairs` hold the last tape gradients; False leaves it to the caller."""
    if not pairs or current_graph() is not None:
        return False
    program = _same_as_last(optimizer, pairs) or _program_for(optimizer, pairs)
    if program is None:
        return False
    program.run([_last["row"]])
    return True


def _same_as_last(optimizer, pairs: list) -> TapeProgram | None:
    """The program of the optimizer's last update, when `pairs` are the tape's gradients in the tape's order
    for the same variables (a training loop's every step): one identity scan instead of a lookup by keys."""
    last = optimizer.__dict__.get("_tape_last_update")
    grads = _last["grads"]
    if last is None or last[1] is not _last["slices"] or not len(pairs) == len(grads) == len(last[0]):
        return None
    if last[2].stale:
        return None
    for (grad, variable), tape_grad, last_variable in zip(pairs, grads, last[0]):  # noqa: B905 - same lengths
        if grad is not tape_grad or variable is not last_variable:
            return None
    return last[2]


def _program_for(optimizer, pairs: list) -> TapeProgram | None:
    """The compiled update for these gradients and variables (made if new), or None where they are not the
    last tape gradients."""
    slices = _slices(pairs)
    if slices is None or not all(isinstance(v, Variable) for _, v in pairs):
        return None
    size = _last["row"].size
    variables = [v for _, v in pairs]
    key = (tuple([v.key for v in variables]), tuple(slices), size)
    programs = optimizer.__dict__.setdefault("_tape_updates", {})
    program = programs.get(key)
    if program is None or program.stale:
        program = _update_program(optimizer, variables, slices, size)
        programs[key] = program
    optimizer.__dict__["_tape_last_update"] = (variables, _last["slices"], program)
    return program


def _update_program(optimizer, variables: list[Variable], slices: list, size: int) -> TapeProgram:
    graph = Graph()
    with tracing(graph), origin("optimizer"):
        flat = Sym(graph, graph.add("input", name="grads", shape=(size,), dtype="float32"))
        if not _flat_update(optimizer, graph, flat, variables, slices):
            grads = [
                None if s is None else ops.reshape(flat[s[0] : s[0] + s[1]], s[2]) if s[2] else flat[s[0]]
                for s in slices
            ]
            optimizer.apply(grads, variables)
    return TapeProgram(graph, ["grads"], f"{optimizer.name} update")


def _flat_update(optimizer, graph: Graph, flat: Sym, variables: list[Variable], slices: list) -> bool:
    """The update as one pass over flat spans, as `fit` does it, where the layout allows; False otherwise.

    It needs every gradient, laid out in the variables' order, with the variables and each slot back to back
    in the tape store (the gradient program placed the weights in trace order; the slots are placed here),
    and no `clipnorm` (a norm per weight).
    """
    clipnorm = optimizer.clipnorm and optimizer.clipnorm > 0
    if None in slices or clipnorm or len({id(v) for v in variables}) < len(variables):
        return False
    if any(b[0] != a[0] + a[1] for a, b in zip(slices, slices[1:], strict=False)):
        return False
    optimizer.build(variables)
    if any(id(v) not in optimizer._indices for v in variables):
        return False  # the per-weight path raises Keras's error
    groups = {name: [optimizer.slot(v, name) for v in variables] for name in optimizer.slot_names}
    # One store for all (the weights' store: they come first); new slots are placed group by group.
    store = store_for([*variables, *(s for group in groups.values() for s in group), *optimizer.variables])
    params = store.region(variables)
    slots = {name: store.region(group) for name, group in groups.items()}
    if params is None or None in slots.values():
        return False
    start, end = slices[0][0], slices[-1][0] + slices[-1][1]
    grad = flat if (start, end) == (0, flat.shape[0]) else flat[start:end]
    optimizer.flat_update(params, grad, slots, optimizer.weight_decay_mask(variables), variables)
    graph.nx.graph["overlaps"] = {region.key: set(region.covers) for region in [params, *slots.values()]}
    return True

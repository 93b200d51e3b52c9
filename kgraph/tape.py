"""GradientTape: gradients of code written with layers and `kgraph.ops`, compiled once per loop body.

Inside `with GradientTape() as tape:` every op is traced (`tape_trace.TapeGraph`); arrays that enter the
computation become the program's inputs ("feeds"), so a loop body gives the same graph at every iteration.
The first iteration records the block; later iterations replay the recording, checking op by op that the
Python code still emits the same ops, and build nothing. `tape.gradient` adds the backward graph to the
recording once and runs forward and backward as one compiled program, on a store that keeps the weights
between steps (`tape_store`). Its gradients are views into one flat buffer of their own (`tape_buffers`);
`optimizer.apply_gradients` on them runs a compiled update (`tape_update`).

Values computed on the tape (the target, a model's outputs) can be read after `gradient` with `float(loss)`
or `loss.numpy()`.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Mapping

import numpy as np

from kgraph.ir.builder import Sym, current_graph, emit, swap_graph, tracing
from kgraph.ir.graph import Graph
from kgraph.passes.autodiff import gradients
from kgraph.tape_buffers import ResultPool
from kgraph.tape_store import TapeProgram
from kgraph.tape_trace import TapeGraph, site_recordings
from kgraph.tape_update import remember_gradients
from kgraph.variables import Variable, variable_node


class GradientTape:
    """Records operations for automatic differentiation (TensorFlow's GradientTape, as Keras users know it).

    Args:
        persistent: allow several `gradient` (or `jacobian`) calls on one tape.
        watch_accessed_variables: whether the variables the computation reads are watched automatically;
            with False, only those passed to `watch` get gradients.

    Example:

    >>> w = kgraph.Variable(np.array([1.0, 2.0], np.float32))
    >>> with kgraph.GradientTape() as tape:
    ...     loss = kgraph.ops.sum(w * w)
    >>> tape.gradient(loss, w)
    array([2., 4.], dtype=float32)
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._watched: set[int] = set()  # ids of watched variables, arrays and traced tensors

    # A loop makes a tape at every step: these start as class attributes.
    _graph: TapeGraph | None = None
    _used = False
    _outer = None  # the graph current before the block
    _inline = False  # inside a program being traced (a custom train_step)

    def __enter__(self) -> GradientTape:
        outer = current_graph()
        if outer is not None and not isinstance(outer, TapeGraph):
            # Inside a program being traced (a custom train_step): the tape adds the backward graph to it.
            self._graph, self._inline = outer, True
            return self
        if self._graph is None:  # entering again (a persistent tape) records more into the same graph
            frame = sys._getframe(1)
            self._graph = TapeGraph(site_recordings(frame.f_code, frame.f_lasti))
        self._outer = swap_graph(self._graph)
        return self

    def __exit__(self, *exc) -> None:
        if not self._inline:
            swap_graph(self._outer)

    def watch(self, tensor) -> None:
        """Makes `tensor` a source: a numpy array (or list of them) entering the block, a variable, or a
        tensor computed inside the tape."""
        for item in tensor if isinstance(tensor, list | tuple) else [tensor]:
            if isinstance(item, np.ndarray):
                if self._graph is None:
                    raise ValueError("GradientTape.watch() of an array must be called inside the tape.")
                item = self._graph.feed(item)
            elif not isinstance(item, Variable | Sym):
                raise ValueError(
                    "GradientTape.watch() takes arrays, variables or tensors, received "
                    f"{type(item).__name__}."
                )
            elif isinstance(item, Sym) and item.graph is not self._graph:
                raise ValueError("GradientTape.watch() takes a tensor computed inside this tape.")
            self._watched.add(item.key if isinstance(item, Variable) else item.id)

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """Gradients of `target` (summed when not a scalar) with respect to each of `sources`.

        Args:
            target: a tensor computed inside the tape.
            sources: a variable, a watched array or tensor, or a list or tuple of them.
            output_gradients: the gradient of some outer loss with respect to `target` (same shape); the
                result is then the vector-Jacobian product.
            unconnected_gradients: "none" (None for a source the target does not depend on) or "zero".

        Returns:
            numpy arrays in the structure of `sources`: views into one buffer of their own per call.

        Raises:
            RuntimeError: a second call on a non-persistent tape.
        """
        self._start_use()
        single = not isinstance(sources, (list, tuple))  # a tuple of types: `list | tuple` is built per call
        sources = [sources] if single else list(sources)
        result = self._gradients(target, sources, output_gradients, unconnected_gradients)
        return result[0] if single else result

    def jacobian(self, target, sources, unconnected_gradients="none", parallel_iterations=None, **kwargs):
        """The Jacobian of `target` with respect to each source: shape `target.shape + source.shape`.

        Runs the compiled vector-Jacobian program once per element of the target.
        """
        self._start_use()
        single = not isinstance(sources, list | tuple)
        sources = [sources] if single else list(sources)
        shape = tuple(self._check_target(target).shape)
        rows = []
        for index in range(int(np.prod(shape, dtype=np.int64))):
            seed = np.zeros(shape, np.float32)
            seed.flat[index] = 1.0
            rows.append(
                [
                    g.copy() if g is not None else None
                    for g in self._gradients(target, sources, seed, unconnected_gradients)
                ]
            )
        result = []
        for k in range(len(sources)):
            column = [row[k] for row in rows]
            if all(g is None for g in column):
                result.append(None)
                continue
            result.append(np.stack(column).reshape(shape + tuple(np.shape(column[0]))))
        return result[0] if single else result

    # --- internals ---------------------------------------------------------------------------------
    def _start_use(self) -> None:
        if self._graph is None:
            raise RuntimeError("GradientTape.gradient() needs a tape that recorded a computation.")
        if self._used and not self.persistent:
            raise RuntimeError(
                "A non-persistent GradientTape can only be used to compute one set of gradients "
                "(or jacobians); use GradientTape(persistent=True) to call gradient() again."
            )
        self._used = True

    def _check_target(self, target) -> Sym:
        if type(target) is not Sym or target.graph is not self._graph:
            raise ValueError(
                "The target of tape.gradient() must be a tensor computed inside the tape's `with` block, "
                f"received {type(target).__name__}."
            )
        return target

    def _source_key(self, source):
        """("v", variable) or ("n", node id) for a source, or None where no gradient flows to it."""
        graph = self._graph
        if isinstance(source, Variable):
            if not self.watch_accessed_variables and source.key not in self._watched:
                return None
            return ("v", source.key)
        if isinstance(source, np.ndarray):
            node = graph.feed_node(source)
            return ("n", node) if node is not None and node in self._watched else None
        if isinstance(source, Sym) and source.graph is graph:
            return ("n", source.id)
        raise ValueError(
            f"Cannot differentiate with respect to {type(source).__name__}: sources are variables, arrays "
            "passed to tape.watch(), or tensors computed inside the tape."
        )

    def _gradients(self, target, sources, output_gradients, unconnected_gradients) -> list:
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(
                f"unconnected_gradients must be 'none' or 'zero', received {unconnected_gradients!r}."
            )
        target = self._check_target(target)
        if self._inline:
            return self._traced_gradients(target, sources, output_gradients, unconnected_gradients)
        graph = self._graph
        seed = None
        if output_gradients is not None:
            seed = np.asarray(output_gradients, np.float32)
            if seed.shape != tuple(target.shape):
                raise ValueError(
                    f"output_gradients has shape {seed.shape}, but the target has shape "
                    f"{tuple(target.shape)}."
                )
        recording = graph.seal()
        program = self._program(recording, target.id, sources, seed is not None)
        data = graph.rows  # feed i is named "feed{i}": the program's feeds are the first of them
        if len(data) != len(program.feed_names) or seed is not None:
            data = data[: len(program.feed_names)]
            if seed is not None:
                data.append(seed.reshape(1, -1))
        grads = program.run(data, graph)
        if unconnected_gradients == "none" or all(g is not None for g in grads):
            return list(grads)  # a copy: the update compares the tape's own list with what it receives
        return [
            np.zeros(np.shape(source), np.float32) if grad is None else grad
            for source, grad in zip(sources, grads, strict=True)
        ]

    def _program(self, recording, target: int, sources: list, seeded: bool) -> _GradientProgram:
        """The compiled gradient program of `recording` for this target and these sources, made if new.

        A training loop asks for the same variables at every step: while the sources are the very objects of
        the last call, their keys are not worked out again.
        """
        graph = self._graph
        last = recording.last_request
        if (
            last is not None
            and last[0] == target
            and last[1] == seeded
            and self.watch_accessed_variables
            and len(last[2]) == len(sources)
            and all(map(operator.is_, last[2], sources))
            and last[3] == graph.marked
            and not last[4].stale
        ):
            return last[4]
        keys = tuple([self._source_key(s) for s in sources])
        key = (target, keys, seeded, tuple(graph.marked))
        program = recording.programs.get(key)
        if program is None or program.stale:
            variables = {k[1]: s for k, s in zip(keys, sources, strict=True) if k and k[0] == "v"}
            program = _GradientProgram(recording.graph, target, keys, variables, seeded, graph.marked)
            recording.programs[key] = program
        if all(isinstance(s, Variable) for s in sources):  # a variable's key does not depend on the tape
            recording.last_request = (target, seeded, sources, list(graph.marked), program)  # own copy
        return program

    def _traced_gradients(self, target, sources, output_gradients, unconnected_gradients) -> list:
        """Gradients as tensors of the program being traced (the tape runs inside a compiled step)."""
        graph = self._graph
        with tracing(graph):
            if output_gradients is not None:
                target = target * output_gradients
            ids = [
                variable_node(graph, s) if isinstance(s, Variable) else self._source_key(s)[1]
                for s in sources
            ]
            grads = gradients(graph, target.id, list(dict.fromkeys(ids)))
            result = []
            for source, i in zip(sources, ids, strict=True):
                if grads[i] is not None:
                    result.append(Sym(graph, grads[i]))
                elif unconnected_gradients == "zero":
                    result.append(emit("broadcast_to", 0.0, shape=tuple(source.shape)))
                else:
                    result.append(None)
        return result


class _GradientProgram:
    """Forward + backward of one recording for one target and set of sources, with its value holders."""

    def __init__(self, forward: Graph, target: int, keys: tuple, variables: dict, seeded: bool, marked):
        graph = forward.copy()
        self.feed_names = graph.nx.graph["feeds"]
        with tracing(graph):
            loss = target
            if seeded:
                seed = graph.add("input", name="output_gradients", shape=graph.type(target).shape)
                loss = emit("mul", Sym(graph, target), Sym(graph, seed)).id
            ids = [
                None if k is None else variable_node(graph, variables[k[1]]) if k[0] == "v" else k[1]
                for k in keys
            ]
            grads = gradients(graph, loss, [i for i in dict.fromkeys(ids) if i is not None])
            self.grad_holders = []  # one per source (None where unconnected), laid out as one block
            for i in ids:
                gid = grads.get(i) if i is not None else None
                holder = None
                if gid is not None:
                    holder = Variable(
                        np.zeros(graph.type(i).shape, np.float32), name=f"tape/grad{len(self.grad_holders)}"
                    )
                    holder.assign(Sym(graph, gid))
                self.grad_holders.append(holder)
            self.value_holders = {}
            for value in dict.fromkeys([target, *marked]):
                holder = Variable(np.zeros(graph.type(value).shape, np.float32), name=f"tape/value{value}")
                holder.assign(Sym(graph, value))
                self.value_holders[value] = holder
        # The holders are laid out back to back, gradients then values: the run's result block.
        holders = [*(h for h in self.grad_holders if h is not None), *self.value_holders.values()]
        names = self.feed_names + (["output_gradients"] if seeded else [])
        self.tape_program = TapeProgram(graph, names, "gradient tape", holders, results_outside=True)
        offsets = self.tape_program.results
        self.slices = [  # (offset in the block, size, shape) of each gradient; the update reads them so
            None if h is None else (offsets[h.key], h._value.size, h.shape) for h in self.grad_holders
        ]
        self._value_cuts = {
            value: (slice(offsets[h.key], offsets[h.key] + h._value.size), h.shape)
            for value, h in self.value_holders.items()
        }
        # Each gradient's slice of the block, and its shape where it is not a 1-D span (a reshape saved); the
        # gradients' part of the block, which the update reads (it starts the block).
        cuts = [
            None if s is None else (slice(s[0], s[0] + s[1]), s[2] if len(s[2]) != 1 else None)
            for s in self.slices
        ]
        self._grads_size = sum(s[1] for s in self.slices if s is not None)
        self._results = ResultPool(sum(h._value.size for h in holders), cuts, self._grads_size)

    @property
    def stale(self) -> bool:
        return self.tape_program.stale

    def run(self, data: list[np.ndarray], graph: Graph) -> list:
        result = self._results.take()
        self.tape_program.run([*data, result.whole])  # the program writes the block into the set
        graph.values = _ComputedValues(result.buffer, self._value_cuts, graph.values)
        if self._grads_size:
            remember_gradients(result.row, result.grads, self.slices)
        return result.grads


class _ComputedValues(Mapping):
    """The values a gradient program returned besides the gradients (the target, a model's outputs), by node
    id: views into the run's buffer, made when read (`Sym.numpy()`), since a loop rarely reads all of them.

    Values of an earlier `gradient` call on the same (persistent) tape that this run did not compute stay
    readable through `earlier`.
    """

    def __init__(self, buffer: np.ndarray, cuts: dict, earlier: Mapping | None):
        self._buffer, self._cuts = buffer, cuts
        self._earlier = earlier if earlier is not None and any(k not in cuts for k in earlier) else None

    def __getitem__(self, value: int) -> np.ndarray:
        cut = self._cuts.get(value)
        if cut is None:
            if self._earlier is None:
                raise KeyError(value)
            return self._earlier[value]
        return self._buffer[cut[0]].reshape(cut[1])

    def __contains__(self, value) -> bool:
        return value in self._cuts or (self._earlier is not None and value in self._earlier)

    def __iter__(self):
        return iter(dict.fromkeys([*self._cuts, *(self._earlier or ())]))

    def __len__(self) -> int:
        return len(list(iter(self)))

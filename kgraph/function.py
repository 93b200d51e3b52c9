"""`kgraph.function`: a Python function of arrays, traced once per input signature and run compiled.

What `tf.function` is to a Keras user on TensorFlow: decorate the step of a custom training loop and the whole
step (forward, `GradientTape` gradients, `optimizer.apply_gradients`, metric updates) becomes one program of
the same IR, passes and kernels as `fit`, so a call costs one native run instead of Python at every op.

    @kgraph.function
    def train_step(x, y):
        with kgraph.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss

Arrays among the arguments (also inside lists, tuples and dicts) become the program's float32 inputs; every
other argument is a constant of the trace. A call whose arrays have new shapes, or whose other arguments have
new values (compared by value, or by identity for objects), traces again. As with `tf.function`, the Python
code runs during tracing only: side effects such as `print` happen once, and Python branches on tensor values
are an error. Tensors returned come back as numpy arrays; the weights the step updates stay in one store
shared with gradient tapes (`tape_store`).
"""

from __future__ import annotations

import functools

import numpy as np

from kgraph import ops
from kgraph.ir.builder import Sym, current_graph, tracing
from kgraph.ir.graph import Graph
from kgraph.tape_store import TapeProgram
from kgraph.variables import Variable

_MAX_TRACES = 8  # programs kept per function; the least recently used goes first


def function(fn=None, *, jit_compile=None, reduce_retracing=False, **kwargs):
    """Compiles `fn` into one program per input signature (usable as `@function` or `@function(...)`).

    Args:
        fn: a function of arrays (and Python values) that calls layers, models, losses, `kgraph.ops`,
            `GradientTape` and optimizers.
        jit_compile, reduce_retracing: accepted for `tf.function` compatibility; kgraph always compiles.
    """
    if fn is None:
        return lambda f: function(f, jit_compile=jit_compile, reduce_retracing=reduce_retracing, **kwargs)
    return CompiledFunction(fn)


class CompiledFunction:
    """A function with its traced programs, by signature."""

    def __init__(self, fn):
        self.fn = fn
        self._traces: dict[tuple, _Trace] = {}
        functools.update_wrapper(self, fn)

    def __get__(self, instance, owner=None):
        """Decorating a method binds it per instance (the instance is one of the constant arguments)."""
        if instance is None:
            return self
        return functools.partial(self.__call__, instance)

    def __call__(self, *args, **kwargs):
        if current_graph() is not None:  # called from code being traced: becomes part of that program
            return self.fn(*args, **kwargs)
        arrays: list[np.ndarray] = []
        objects: list = []
        key = (_signature(args, arrays, objects), _signature(kwargs, arrays, objects))
        trace = self._traces.pop(key, None)
        if trace is None or trace.stale:
            trace = _Trace(self.fn, args, kwargs, arrays, getattr(self.fn, "__name__", "function"))
            trace.constants = objects  # kept alive: the key names them by id, which must not be reused
        self._traces[key] = trace  # most recently used last
        if len(self._traces) > _MAX_TRACES:
            del self._traces[next(iter(self._traces))]
        return trace.run(arrays)

    def __repr__(self) -> str:
        return f"<kgraph.function {getattr(self.fn, '__qualname__', self.fn)}: {len(self._traces)} traces>"


class _Trace:
    """One traced program: its inputs in argument order and the holders of its results."""

    def __init__(self, fn, args: tuple, kwargs: dict, arrays: list[np.ndarray], name: str):
        graph = Graph()
        with tracing(graph):
            feeds = iter(
                Sym(graph, graph.add("input", name=f"arg{i}", shape=a.shape, dtype="float32"))
                for i, a in enumerate(arrays)
            )
            result = fn(*_substitute(args, feeds), **_substitute(kwargs, feeds))
            self.holders: list[tuple[Variable, str]] = []
            self.structure = _hold(result, self.holders)
        self.program = TapeProgram(
            graph, [f"arg{i}" for i in range(len(arrays))], f"function {name}", [h for h, _ in self.holders]
        )
        self.constants: list = []  # the objects among the arguments (see CompiledFunction.__call__)

    @property
    def stale(self) -> bool:
        return self.program.stale

    def run(self, arrays: list[np.ndarray]):
        self.program.run([np.ascontiguousarray(a, np.float32).reshape(1, -1) for a in arrays])
        values = [self.program.value(h).astype(dtype) for h, dtype in self.holders]
        return _rebuild(self.structure, iter(values))


def _signature(value, arrays: list, objects: list):
    """A hashable key of an argument's structure, shapes and Python values; collects its arrays in order, and
    the objects it names by identity."""
    if isinstance(value, np.ndarray | np.generic):  # numpy scalars too: a new value must not retrace
        value = np.asarray(value)
        arrays.append(value)
        return ("array", value.shape, value.dtype.str)
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_signature(v, arrays, objects) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _signature(value[k], arrays, objects)) for k in sorted(value, key=str)))
    if isinstance(value, bool | int | float | str | bytes | type(None)):
        return ("value", type(value).__name__, value)
    objects.append(value)
    return ("object", id(value))  # layers, models, optimizers: the same object traces once


def _substitute(value, feeds):
    """`value` with each array replaced by the next input tensor (in `_signature`'s order)."""
    if isinstance(value, np.ndarray | np.generic):
        return next(feeds)
    if isinstance(value, list | tuple):
        return type(value)(_substitute(v, feeds) for v in value)
    if isinstance(value, dict):
        substituted = {k: _substitute(value[k], feeds) for k in sorted(value, key=str)}
        return {k: substituted[k] for k in value}
    return value


def _hold(result, holders: list):
    """Replaces each tensor of `result` by a marker and keeps its value in a new variable of the program."""
    if isinstance(result, Sym):
        holder = Variable(np.zeros(result.shape, np.float32), name=f"function/result{len(holders)}")
        holder.assign(result if result.dtype == "float32" else ops.cast(result, "float32"))
        holders.append((holder, result.dtype))
        return _Result()
    if isinstance(result, list | tuple):
        return type(result)(_hold(r, holders) for r in result)
    if isinstance(result, dict):
        return {k: _hold(v, holders) for k, v in result.items()}
    return result


class _Result:
    """Where a tensor was in the returned structure."""


def _rebuild(structure, values):
    if isinstance(structure, _Result):
        return next(values)
    if isinstance(structure, list | tuple):
        return type(structure)(_rebuild(s, values) for s in structure)
    if isinstance(structure, dict):
        return {k: _rebuild(v, values) for k, v in structure.items()}
    return structure

"""Overriding `train_step` / `test_step`, as Keras allows, compiled like the built-in step.

When a `Model` subclass overrides `train_step(self, data)` (or `test_step`), `fit` (or `evaluate`) traces
the user's method once on symbolic batches: `self(x, training=True)`, `self.compute_loss(...)`,
`GradientTape` (which, inside a trace, adds the backward graph to the traced program), `tape.gradient`,
`self.optimizer.apply_gradients`, metric updates and the returned dict all become ops of one graph, compiled
and run by the same native loop as the built-in step, `steps_per_execution` batches per call. The returned
values (nested dicts are flattened) are the logs that callbacks and the progress bar see: a tensor of the step
is written into a scalar variable of the model's store; `metric.result()`, which reads the metric's
variables, is read again after each run.

What the traced method may do is what traced code may do: ops on tensors, no Python branching on tensor
values (a clear error says so), no numpy on tensors.
"""

from __future__ import annotations

import numpy as np

from kgraph import ops
from kgraph.ir.builder import Sym, current_graph, emit, origin, tracing
from kgraph.ir.graph import Graph
from kgraph.variables import Variable, order_writes_after_reads


def unpack_x_y_sample_weight(data):
    """`(x, y, sample_weight)` from a batch given as `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(
        f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, found: {data}"
    )


class _CompiledLossCall:
    """`model.compiled_loss(y, y_pred, sample_weight=None, regularization_losses=None)` (Keras 2's API)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        loss = self.model.compute_loss(y=y_true, y_pred=y_pred, sample_weight=sample_weight)
        for extra in regularization_losses or ():
            loss = loss + extra
        return loss


class _CompiledMetricsCall:
    """`model.compiled_metrics.update_state(y, y_pred, sample_weight=None)` (Keras 2's API)."""

    def __init__(self, model):
        self.model = model

    @property
    def metrics(self) -> list:
        return [metric for _, metric, _ in self.model._compiled_metrics.metrics]

    def update_state(self, y_true, y_pred, sample_weight=None):
        model = self.model
        ys, preds = _as_list(y_true), _as_list(y_pred)
        weights = _as_list(sample_weight) if sample_weight is not None else [None] * len(ys)
        model._compiled_metrics.update(ys, preds, [_flat_weights(w) for w in weights])

    def reset_state(self):
        self.model._compiled_metrics.reset()


class KerasStepAPI:
    """The methods a custom `train_step` / `test_step` calls, and the default steps written with them."""

    def train_step(self, data):
        """One training step (Keras's default); override it to customize `fit`."""
        from kgraph.tape import GradientTape

        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        self._loss_tracker.update_state(loss, sample_weight=emit("batch_size"))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        """One evaluation step (Keras's default); override it to customize `evaluate`."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        self._loss_tracker.update_state(loss, sample_weight=emit("batch_size"))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of `y` and `y_pred`, plus regularization and added losses."""
        from kgraph.models.programs import _regularization

        ys, preds = _as_list(y), _as_list(y_pred)
        weights = _as_list(sample_weight) if sample_weight is not None else [None] * len(ys)
        with origin("loss"):
            loss, _ = self._loss_object()(ys, preds, [_flat_weights(w) for w in weights])
            graph = current_graph()
            return loss + _regularization(self) if graph is not None else loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Updates the compiled metrics; returns every metric's result, by name."""
        self.compiled_metrics.update_state(y, y_pred, sample_weight)
        return {metric.name: metric.result() for metric in self.metrics}

    @property
    def metrics(self) -> list:
        """The loss tracker and the compiled metrics (built by the first `fit` or `evaluate`)."""
        if not getattr(self, "compiled", False) or self._compiled_metrics is None:
            return []
        return [self._loss_tracker, *self.compiled_metrics.metrics]

    @property
    def compiled_loss(self) -> _CompiledLossCall:
        return _CompiledLossCall(self)

    @property
    def compiled_metrics(self) -> _CompiledMetricsCall:
        return _CompiledMetricsCall(self)

    @property
    def _loss_tracker(self):
        tracker = self.__dict__.get("_loss_tracker_metric")
        if tracker is None:
            from kgraph.metrics import Mean

            tracker = self.__dict__["_loss_tracker_metric"] = Mean(name="loss")
        return tracker

    def _overrides(self, method: str) -> bool:
        return getattr(type(self), method) is not getattr(KerasStepAPI, method)


def custom_step_graph(model, kind: str, x_shapes, y_shapes, weighted: bool) -> tuple[Graph, dict]:
    """Traces the model's own `train_step` or `test_step`; returns the graph and, by log name, a function
    that reads the log's value after a run."""
    graph = Graph()
    with tracing(graph):
        xs = [_input(graph, f"x{i}", s) for i, s in enumerate(x_shapes)]
        ys = [_input(graph, f"y{i}", s) for i, s in enumerate(y_shapes)]
        x = xs[0] if len(xs) == 1 else xs
        y = ys[0] if len(ys) == 1 else ys
        data = (x, y)
        if weighted:
            sws = [_input(graph, f"sw{i}", (None, 1)) for i in range(len(y_shapes))]
            data = (x, y, sws[0] if len(sws) == 1 else sws)
        logs = model.train_step(data) if kind == "train" else model.test_step(data)
        metrics = {m.name: m for m in [*model.metrics, *model.compiled_metrics.metrics]}
        holders = {}
        for name, value in _flatten_logs(logs or {}).items():
            if isinstance(value, Sym):  # a value of the step: kept in a variable of the store
                holder = Variable(0.0, name=f"logs/{name}", trainable=False)
                holder.assign(ops.mean(value) if value.shape != () else value)
                holders[name] = holder.numpy
            elif name in metrics:  # `metric.result()` reads the metric's variables: read them after the step
                holders[name] = metrics[name].result
            else:
                holders[name] = float(np.asarray(value)).__float__
    order_writes_after_reads(graph)
    return graph, holders


def _flatten_logs(logs) -> dict:
    flat = {}
    for name, value in logs.items():
        if isinstance(value, dict):
            flat.update(_flatten_logs(value))
        else:
            flat[name] = value
    return flat


def _input(graph: Graph, name: str, shape) -> Sym:
    return Sym(graph, graph.add("input", name=name, shape=(None, *tuple(shape)[1:])))


def _as_list(value) -> list:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list | tuple) else [value]


def _flat_weights(weights):
    if isinstance(weights, Sym) and len(weights.shape) == 2:
        return emit("reshape", weights, shape=(weights.shape[0],))
    return weights

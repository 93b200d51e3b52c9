"""The three programs of a compiled model, traced into IR: the training step, the test step and predict.

The training step is one graph: forward, loss (with regularization), loss tracking and metric updates,
gradients written into the flat gradient region, and the optimizer updating the flat parameter region in one
pass. All of a model's state lives in one `VariableStore`, laid out so those regions are contiguous.
"""

from __future__ import annotations

import math

import numpy as np

from kgraph.codegen.cpu import ProgramLayout
from kgraph.codegen.threads import SPLIT_MIN_BATCH
from kgraph.ir.builder import Sym, emit, origin, tracing
from kgraph.ir.graph import Graph
from kgraph.passes.autodiff import gradients
from kgraph.passes.crop import crop_pooled_convolutions
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.backends import make_program, resolved_backend
from kgraph.runtime.store import VariableStore
from kgraph.variables import Variable, order_writes_after_reads, variable_node


class ModelState:
    """Every variable a compiled model reads or writes, in one store, with the regions the step updates."""

    def __init__(self, model):
        self.model = model
        self.trainable = list(model.trainable_weights)
        self.grads = [
            Variable(np.zeros(v.shape, np.float32), name=f"{v.path}/gradient", trainable=False)
            for v in self.trainable
        ]
        optimizer = model.optimizer
        optimizer.build(self.trainable)
        self.slots = {
            name: [optimizer.slot(v, name) for v in self.trainable] for name in optimizer.slot_names
        }
        self.loss_trackers = [Variable(0.0, name="loss/total"), Variable(0.0, name="loss/count")]
        self.output_loss_trackers = (
            [
                [Variable(0.0, name=f"{n}_loss/total"), Variable(0.0, name=f"{n}_loss/count")]
                for n in model.output_names
            ]
            if len(model.output_names) > 1
            else []
        )
        model_state = [v for v in model.weights if v.key not in {t.key for t in self.trainable}]
        extra = [
            v for v in optimizer.variables if all(v is not s for group in self.slots.values() for s in group)
        ]
        tracked = [v for pair in self.output_loss_trackers for v in pair]
        ordered = [
            *self.trainable,
            *self.grads,
            *(v for group in self.slots.values() for v in group),
            *model_state,
            *extra,
            *model._compiled_metrics.variables,
            *self.loss_trackers,
            *tracked,
        ]
        regions = {
            "params": self.trainable,
            "grads": self.grads,
            **{f"slot/{name}": group for name, group in self.slots.items()},
        }
        self.store = VariableStore(ordered, regions)
        self._ordered, self._regions = ordered, regions
        self.decay_mask = optimizer.weight_decay_mask(self.trainable)

    def adopt(self, variables) -> None:
        """Appends variables a custom step reads (its logs, its own metrics) to the store; earlier programs
        stay valid, since what was laid out keeps its offset."""
        new = [v for v in variables if v.key not in self.store.layout]
        if new:
            self._ordered = [*self._ordered, *new]
            self.store = VariableStore(self._ordered, self._regions)

    def reset_trackers(self) -> None:
        for v in [*self.loss_trackers, *(t for pair in self.output_loss_trackers for t in pair)]:
            v.assign(0.0)

    def logs(self) -> dict:
        total, count = (float(v.value) for v in self.loss_trackers)
        logs = {"loss": total / count if count else 0.0}
        for name, (t, c) in zip(self.model.output_names, self.output_loss_trackers, strict=False):
            logs[f"{name}_loss"] = float(t.value) / float(c.value) if float(c.value) else 0.0
        logs.update(self.model._compiled_metrics.results())
        return logs


def _inputs(graph: Graph, prefix: str, shapes) -> list[Sym]:
    return [
        Sym(graph, graph.add("input", name=f"{prefix}{i}", shape=(None, *tuple(s)[1:])))
        for i, s in enumerate(shapes)
    ]


def _forward(model, xs, training: bool) -> list[Sym]:
    """The model's outputs, traced into the graph of `xs`, each convolution cropped to what a pooling
    after it reads (passes/crop.py: before any gradient is derived from the forward)."""
    outputs = flat_outputs(model(xs if len(xs) > 1 else xs[0], training=training))
    graph = xs[0].graph
    replaced = crop_pooled_convolutions(graph, kept=tuple(y.id for y in outputs if isinstance(y, Sym)))
    return [Sym(graph, replaced[y.id]) if isinstance(y, Sym) and y.id in replaced else y for y in outputs]


def flat_outputs(out) -> list:
    """A layer's or model's outputs as a list (a model built with a dict of outputs returns a dict)."""
    if isinstance(out, dict):
        return list(out.values())
    return list(out) if isinstance(out, list | tuple) else [out]


def _regularization(model) -> Sym | float:
    """The sum of `model.losses` (added losses and weight penalties), as Keras adds them to the loss."""
    penalty = 0.0
    for loss in model.losses:
        penalty = penalty + loss
    return penalty


def _evaluation(model, state: ModelState, graph: Graph, x_shapes, y_shapes, training: bool, weighted: bool):
    """Forward, loss and the updates of loss trackers and metrics; returns (loss, inputs in order)."""
    xs = _inputs(graph, "x", x_shapes)
    ys = _inputs(graph, "y", y_shapes)
    if weighted:
        weights = [
            emit("reshape", sw, shape=(None,)) for sw in _inputs(graph, "sw", [(None, 1)] * len(y_shapes))
        ]
    else:
        weights = [None] * len(y_shapes)
    y_preds = _forward(model, xs, training)
    with origin("loss"):
        loss, parts = model._compiled_loss(ys, y_preds, weights)
        loss = loss + _regularization(model)
        batch = emit("batch_size")
        total, count = state.loss_trackers
        total.assign_add(loss * batch)
        count.assign_add(batch)
        for part, (t, c) in zip(parts, state.output_loss_trackers, strict=False):
            if part is not None:
                t.assign_add(part * batch)
                c.assign_add(batch)
    with origin("metrics"):
        model._compiled_metrics.update(ys, y_preds, weights)
    return loss


def train_graph(model, state: ModelState, x_shapes, y_shapes, weighted: bool) -> Graph:
    graph = Graph()
    with tracing(graph):
        loss = _evaluation(model, state, graph, x_shapes, y_shapes, training=True, weighted=weighted)
        params = [variable_node(graph, v) for v in state.trainable]
        grads = gradients(graph, loss.id, params)
        optimizer = model.optimizer
        with origin("optimizer"):
            values = [
                Sym(graph, g) if g is not None else emit("broadcast_to", 0.0, shape=v.shape)
                for g, v in zip(grads.values(), state.trainable, strict=True)
            ]
            for grad_var, value in zip(state.grads, optimizer.clip_each(values), strict=True):
                grad_var.assign(value)
            grad_writes = list(graph.effects[-len(state.grads) :]) if state.grads else []
            regions = state.store.regions
            optimizer.flat_update(
                regions["params"],
                regions["grads"],
                {name: regions[f"slot/{name}"] for name in optimizer.slot_names},
                state.decay_mask,
                state.trainable,
            )
    # The optimizer reads the gradient region after every gradient is written into it.
    reads = graph.nx.graph["variable_nodes"].get(regions["grads"].key)
    if reads is not None:
        for write in grad_writes:
            for reader in graph.consumers(reads):
                graph.add_control_edge(write, reader)
    graph.nx.graph["overlaps"] = {
        regions["params"].key: {v.key for v in state.trainable},
        **{regions[f"slot/{n}"].key: {v.key for v in group} for n, group in state.slots.items()},
    }
    order_writes_after_reads(graph)
    return graph


def test_graph(model, state: ModelState, x_shapes, y_shapes, weighted: bool) -> Graph:
    graph = Graph()
    with tracing(graph):
        _evaluation(model, state, graph, x_shapes, y_shapes, training=False, weighted=weighted)
    order_writes_after_reads(graph)
    return graph


def predict_graph(model, x_shapes) -> Graph:
    graph = Graph()
    with tracing(graph):
        y_preds = _forward(model, _inputs(graph, "x", x_shapes), training=False)
    for i, y in enumerate(y_preds):
        graph.outputs[f"y_pred{i}"] = y.id
    return graph


# A predict program runs at most this many bytes of values a batch (before the memory plan reuses any): a
# call on 10,000 images would otherwise plan an arena of gigabytes. It costs no speed: the MNIST CNN predicts
# 1024 images 64, 128, 256 or 1024 at a time at the same 15-18k a second. Never fewer than SPLIT_MIN_BATCH
# rows, from which products split across threads.
PREDICT_BATCH_BYTES = 48 << 20


def predict_rows(graph: Graph) -> int:
    """The most rows a predict program of `graph` runs at a time (`PREDICT_BATCH_BYTES`): a power of 2."""
    row_bytes = 4 * sum(math.prod(n.type.shape[1:]) for n in graph.nodes() if n.type.shape[:1] == (None,))
    rows = SPLIT_MIN_BATCH
    while 2 * rows * row_bytes <= PREDICT_BATCH_BYTES:
        rows *= 2
    return rows


def build_program(graph: Graph, state_layout: dict, batch_size: int, title: str):
    """Runs the pass pipeline and returns a program for the configured backend."""
    inputs = sorted((n.attrs["name"] for n in graph.nodes() if n.op == "input"), key=_input_order)
    layout = ProgramLayout(state_layout, inputs, list(graph.outputs))
    planned = run_pipeline(graph, batch_size, title=title, backend=resolved_backend())
    return make_program(planned, layout, title)


def _input_order(name: str):
    kinds = {"x": 0, "y": 1, "sw": 2}
    prefix = name.rstrip("0123456789")
    return kinds.get(prefix, 3), int(name[len(prefix) :] or 0)

"""Memory plan invariants: live buffers never overlap, the arena is near the lower bound, reuse happens."""

import numpy as np
import pytest

from kgraph import ops
from kgraph.ir import Graph, Sym, tracing
from kgraph.passes.autodiff import gradients
from kgraph.passes.fuse import fuse
from kgraph.passes.memory import plan_memory
from kgraph.passes.simplify import simplify
from kgraph.testing import run_traced
from kgraph.variables import Variable, order_writes_after_reads, variable_node
from tests.graphs import input_node, mlp_training_graph


@pytest.fixture(scope="module")
def planned():
    graph, _, _ = mlp_training_graph(sizes=(784, 512, 512, 10))
    return plan_memory(fuse(simplify(graph)), 128)


def test_live_buffers_never_overlap(planned):
    buffers = planned.memory.buffers
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if a.start <= b.end and b.start <= a.end:
                assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset


def test_arena_is_within_ten_percent_of_the_lower_bound(planned):
    plan = planned.memory
    assert plan.lower_bound_bytes <= plan.arena_bytes <= 1.1 * plan.lower_bound_bytes
    assert plan.arena_bytes < plan.no_reuse_bytes


def test_epilogue_outputs_reuse_their_inputs(planned):
    assert any(len(b.values) > 1 for b in planned.memory.buffers)


def test_plan_report_names_the_three_figures(planned):
    text = str(planned.memory)
    assert "arena" in text and "no reuse" in text and "lower bound" in text


def _embedding_gradient_into(slot, table, ids):
    """The dense gradient of a lookup (a scatter kernel of its own), assigned to `slot`; returns the loss."""
    loss = ops.sum(ops.take(table, ids) * 2.0)
    (grad,) = gradients(ids.graph, loss.id, [variable_node(ids.graph, table)]).values()
    slot.assign(Sym(ids.graph, grad))
    return loss


def test_a_value_from_an_earlier_kernel_is_computed_straight_into_its_variable():
    """An embedding's dense gradient is scattered straight into its slot, and the kernel that copied it there
    is dropped (and said so); the slot then holds what the numpy reference computes."""
    table, slot = Variable(np.ones((50, 4)), name="table"), Variable(np.zeros((50, 4)), name="slot")
    graph = Graph()
    with tracing(graph):
        _embedding_gradient_into(slot, table, input_node(graph, "ids", 3))
    order_writes_after_reads(graph)
    planned = plan_memory(fuse(simplify(graph)), 8)
    (scatter,) = [n for n in planned.nodes() if n.op == "scatter_add"]
    assert planned.memory.storage[scatter.id].space == "variable"
    assert not any(all(planned.node(n).op == "assign" for n in k.nodes) for k in planned.fusion.kernels)
    assert any("dropped" in note for note in planned.fusion.notes)

    ids = np.array([[1, 2, 2], [7, 1, 0]], np.float32)
    results = {}
    for backend in ("numpy", "cpu"):
        slot.assign(np.zeros((50, 4)))
        run_traced(lambda i: _embedding_gradient_into(slot, table, i), ids, backend=backend)
        results[backend] = slot.numpy()
    assert results["numpy"][2, 0] == 4.0
    np.testing.assert_array_equal(results["cpu"], results["numpy"])

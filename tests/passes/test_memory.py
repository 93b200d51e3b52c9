"""Memory plan invariants: live buffers never overlap, the arena is near the lower bound, reuse happens."""

import pytest

from kgraph.passes.fuse import fuse
from kgraph.passes.memory import plan_memory
from kgraph.passes.simplify import simplify
from tests.graphs import mlp_training_graph


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

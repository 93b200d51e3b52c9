"""Structural tests of the projection pass: which scans take over their input projection, and which do not."""

import pytest

from kgraph.ir import Graph, Sym
from kgraph.ir.builder import tracing
from kgraph.layers import GRU, LSTM
from kgraph.passes import projection
from kgraph.passes.pipeline import run_pipeline


def _scan_graph(layer, steps=20, width=16):
    graph = Graph()
    with tracing(graph):
        x = Sym(graph, graph.add("input", name="x", shape=(None, steps, width)))
        graph.outputs["y"] = layer(x).id
    return graph


def _ops(planned):
    return [[planned.node(n).op for n in k.nodes] for k in planned.fusion.kernels if k.kind != "view"]


def _projected(planned) -> list[bool]:
    return [n.attrs.get("projected", False) for n in planned.nodes() if n.op in ("rnn_scan", "rnn_outputs")]


def test_a_scan_projects_its_inputs_where_the_projection_would_split():
    """PROJECT_MIN_MNK (1.5M multiply-adds) at the program's rows: the benchmark LSTM's batch-1 projection
    (80 steps x 128 @ 128 x 256, 2.6M) moves into its scan; 20 steps x 16 does not."""
    assert _projected(run_pipeline(_scan_graph(LSTM(64), steps=80, width=128), 1)) == [True, True]
    assert _projected(run_pipeline(_scan_graph(LSTM(64)), 1)) == [False, False]


@pytest.fixture
def any_projection(monkeypatch):
    monkeypatch.setattr(projection, "PROJECT_MIN_MNK", 0)


def test_the_projection_moves_into_the_scan(any_projection):
    planned = run_pipeline(_scan_graph(LSTM(8)), 4)
    assert _projected(planned) == [True, True]
    assert ["matmul"] not in _ops(planned), "the projection's GEMM is gone"
    scan = next(n for n in planned.nodes() if n.op == "rnn_scan")
    assert [planned.node(i).op for i in (scan.inputs[0], scan.inputs[-1])] == ["input", "variable"]


def test_batches_that_split_by_rows_and_other_backends_keep_the_projection(any_projection):
    graph = _scan_graph(LSTM(8))
    assert _projected(run_pipeline(graph, 64)) == [False, False], "64 rows: the walk splits its batch"
    assert _projected(run_pipeline(graph, 4, backend="cuda")) == [False, False]
    assert _projected(run_pipeline(graph, 4, backend="numpy")) == [False, False]


def test_a_projection_with_a_bias_added_first_stays_a_gemm(any_projection):
    """A GRU adds its input bias to the projection (the scan reads the sum): nothing to take over."""
    planned = run_pipeline(_scan_graph(GRU(8)), 4)
    assert _projected(planned) == [False, False]


def test_the_scan_inherits_the_projections_place_before_writes(any_projection):
    """What was ordered after the projection (in a training step: the update of the kernel it reads) is
    ordered after the scans that now read the kernel."""
    graph = _scan_graph(LSTM(8))
    matmul = next(n for n in graph.nodes() if n.op == "matmul")
    later = graph.add("exp", [matmul.inputs[1]])
    graph.add_control_edge(matmul.id, later)
    graph.outputs["later"] = later
    planned = projection.project_in_scans(graph, 4)
    for node in (n for n in planned.nodes() if n.attrs.get("projected")):
        assert planned.nx.has_edge(node.id, later), node.op

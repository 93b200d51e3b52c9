"""Kernel-count tests: they pin what the fusion pass merges, so fusion cannot silently regress."""

from kgraph import ops
from kgraph.ir import Graph, tracing
from kgraph.passes.fuse import fuse
from kgraph.passes.simplify import simplify
from kgraph.variables import Variable
from tests.graphs import input_node, mlp_training_graph


def _kernels(graph):
    return fuse(simplify(graph)).fusion.kernels


def _dense_forward(activation):
    graph = Graph()
    w, b = Variable(((0.1,) * 8,) * 4), Variable((0.0,) * 8)
    with tracing(graph):
        x = input_node(graph, "x", 4)
        graph.outputs["y"] = activation(ops.matmul(x, w) + b).id
    return graph


def test_gemm_bias_relu_is_one_kernel():
    (kernel,) = _kernels(_dense_forward(ops.relu))
    assert kernel.kind == "gemm"
    assert kernel.name == "k0_matmul_add_relu"


def test_elementwise_chain_is_one_loop():
    graph = Graph()
    with tracing(graph):
        x = input_node(graph, "x", 4)
        graph.outputs["y"] = ops.tanh(ops.exp(x) * 2.0 + ops.sigmoid(x)).id
    (kernel,) = _kernels(graph)
    assert kernel.kind == "loop" and len(kernel.nodes) == 5


def test_softmax_cross_entropy_forward_and_backward_share_one_kernel():
    graph, _, _ = mlp_training_graph(sizes=(4, 3))
    kernels = _kernels(graph)
    softmax = [k for k in kernels if any(graph.node(n).op == "exp" for n in k.nodes if n in graph.nx)]
    assert len(softmax) == 1
    ops_in_kernel = {fuse(simplify(graph)).node(n).op for n in softmax[0].nodes}
    assert {"matmul", "exp", "log", "argmax", "sum"} <= ops_in_kernel


def test_two_layer_training_step_kernel_count():
    graph, _, _ = mlp_training_graph()
    fused = fuse(simplify(graph))
    # forward dense 1; dense 2 + softmax + loss + backward + b1 update; dh1 GEMM + relu grad + bias grad + b0
    # update; dW0 GEMM + update; dW1 GEMM + update.
    assert len(fused.fusion.kernels) == 5, fused.fusion
    assert [k.kind for k in fused.fusion.kernels].count("gemm") == 5


def test_relu_gradient_runs_in_the_backward_gemm_epilogue():
    graph, _, _ = mlp_training_graph()
    fused = fuse(simplify(graph))
    masks = [n.id for n in fused.nodes() if n.op == "greater"]
    kernel_of = fused.fusion.kernel_of()
    for mask in masks:
        assert fused.fusion.kernels[kernel_of[mask]].kind == "gemm"


def test_unfused_reasons_are_printable():
    graph, _, _ = mlp_training_graph()
    text = str(fuse(simplify(graph)).fusion)
    assert "kernels" in text and "k0_matmul" in text


def test_pipeline_prints_the_graph_after_every_pass():
    from kgraph.passes.pipeline import run_pipeline

    graph, _, _ = mlp_training_graph(sizes=(4, 3))
    printed = []
    run_pipeline(graph, 8, trace=printed.append, title="mlp")
    headers = [p.splitlines()[0] for p in printed]
    assert headers == [
        "--- mlp: input ---",
        "--- mlp: after project_in_scans ---",
        "--- mlp: after simplify ---",
        "--- mlp: after fuse ---",
        "--- mlp: after plan_memory ---",
    ]
    assert "= matmul(" in printed[2] and "kernels" in printed[3] and "arena" in printed[4]
    printed.clear()
    run_pipeline(graph, 8, trace=printed.append, title="mlp", backend="numpy")
    assert "project_in_scans" not in "".join(printed), "a pass of the CPU backend only"

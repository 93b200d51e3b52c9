"""Crop a convolution to what the pooling after it reads.

A pooling window that does not fit is dropped (Keras's `valid` pooling floors): 2 x 2 pooling of an 11 x 11
map reads rows and columns 0..9 only, so a convolution computing all 11 spends 17% of its GEMM on outputs
nobody reads (the benchmark CNN's second convolution). This pass gives the convolution's patches fewer
windows (a smaller trailing padding, negative where it crops: the windows start where they did), so the
patches, the GEMM and its epilogue are made smaller; the pool's result is unchanged to the bit. It runs on
the forward graph before autodiff, so the gradients are derived from the cropped forward (the input rows no
window reads get zero gradient, which they had).
"""

from __future__ import annotations

from kgraph.ir.graph import Graph
from kgraph.ir.ops.window import geometry
from kgraph.ir.registry import get_op

_POOLS = ("max_pool", "avg_pool")


def crop_pooled_convolutions(graph: Graph, kept: tuple[int, ...] = ()) -> dict[int, int]:
    """Rewrites, in place, each pool whose input is a convolution it does not read whole (unless a value of
    the chain is in `kept`: it is wanted whole); returns the replaced pools, {old value: new value} (the old
    nodes are left for dead-code removal)."""
    replaced, kept = {}, set(kept)
    for pool in [n for n in graph.nodes() if n.op in _POOLS]:
        window, strides, _, padding = geometry(pool.attrs)
        chain = _convolution_chain(graph, pool.inputs[0], kept)
        if chain is None or any(lo or hi for lo, hi in padding):
            continue
        patches, matmul, epilogue = chain
        reached = [(o - 1) * s + w for o, s, w in zip(pool.type.shape[1:-1], strides, window, strict=True)]
        made = graph.type(matmul.id).shape[1:-1]
        if reached == list(made):
            continue
        value = graph.add(
            "patches", [patches.inputs[0]], patches.origin, **_fewer_windows(patches, made, reached)
        )
        value = graph.add("matmul", [value, matmul.inputs[1]], matmul.origin, **matmul.attrs)
        for node in epilogue:
            inputs = [value if graph.type(i).rank > 1 else i for i in node.inputs]
            value = graph.add(node.op, inputs, node.origin, **node.attrs)
        new_pool = graph.add(pool.op, [value], pool.origin, **pool.attrs)
        if graph.type(new_pool) != pool.type:  # a geometry this pass did not foresee: leave it whole
            continue
        graph.replace_uses(pool.id, new_pool)
        replaced[pool.id] = new_pool
    return replaced


def _fewer_windows(patches, made, rows: list[int]) -> dict:
    """`patches`' attributes for `rows` windows instead of `made` along each spatial axis: a smaller trailing
    padding, negative where it crops. The windows start where they did; `output_size` floors, so taking
    `made - rows` strides off the padding leaves exactly `rows` windows."""
    _, strides, _, padding = geometry(patches.attrs)
    cut = [(m - r) * s for m, r, s in zip(made, rows, strides, strict=True)]
    return {**patches.attrs, "padding": tuple((lo, hi - c) for (lo, hi), c in zip(padding, cut, strict=True))}


def _convolution_chain(graph: Graph, value: int, kept: set[int]):
    """(patches, matmul, elementwise nodes after it in order) if `value` is a convolution's output through
    elementwise ops that nothing else reads and whose other operands do not vary across the image (a bias),
    else None."""
    epilogue = []
    node = graph.node(value)
    while get_op(node.op).kind == "elementwise":
        if not _read_once(graph, node.id, kept):
            return None
        images = [i for i in node.inputs if graph.type(i).rank > 1]
        if len(images) != 1 or graph.type(images[0]) != node.type:
            return None
        epilogue.append(node)
        node = graph.node(images[0])
    if node.op != "matmul" or node.attrs.get("transpose_a") or node.attrs.get("transpose_b"):
        return None
    patches = graph.node(node.inputs[0])
    if patches.op != "patches" or not all(_read_once(graph, v, kept) for v in (node.id, patches.id)):
        return None
    return patches, node, epilogue[::-1]


def _read_once(graph: Graph, value: int, kept: set[int]) -> bool:
    """Whether one node reads `value` and nothing else keeps it (an output, a write, `kept`)."""
    wanted = value in kept or value in graph.effects or value in graph.outputs.values()
    return len(graph.consumers(value)) == 1 and not wanted

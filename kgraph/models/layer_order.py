"""The order in which Keras lists a functional model's layers (and so its weights and optimizer slots).

Keras sorts layers by depth from the outputs, deepest (the inputs) first; ties go to the layer a depth-first
walk from the outputs meets first. Outputs given as a dict are walked in sorted key order, as Keras flattens
dicts. `model.layers`, `model.weights`, `get_weights()`, the optimizer's slots and the groups of a saved
weights file all follow this order, so files and weight lists move between Keras and kgraph unchanged.
"""

from __future__ import annotations

from kgraph.layers.keras_tensor import CallNode, KerasTensor


def keras_layer_order(inputs: list[KerasTensor], outputs: list[KerasTensor], output_keys=None) -> list:
    """The layers between `inputs` and `outputs` (input layers included) in Keras's order."""
    if output_keys:
        by_key = dict(zip(output_keys, outputs, strict=True))
        outputs = [by_key[key] for key in sorted(by_key)]
    input_ids = {id(t) for t in inputs}
    finished: set[int] = set()
    ordered: list[CallNode] = []
    first_seen: dict[int, int] = {}

    def visit(tensor: KerasTensor) -> None:
        node = tensor.node
        if id(node) in finished:
            return
        if node.inputs and id(tensor) in input_ids:
            finished.add(id(node))
            return
        first_seen.setdefault(id(node.layer), len(first_seen))
        for parent in node.inputs:
            visit(parent)
        finished.add(id(node))
        ordered.append(node)

    for tensor in outputs:
        visit(tensor)
    in_graph = {id(node) for node in ordered}
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    layers: dict[int, object] = {}
    for node in reversed(ordered):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        layers[id(node.layer)] = node.layer
        for parent in node.inputs:
            if id(parent.node) in in_graph:
                node_depth[id(parent.node)] = max(depth + 1, node_depth.get(id(parent.node), 0))
    for tensor in inputs:
        layer = tensor.node.layer
        if id(layer) not in layer_depth:
            layer_depth[id(layer)], first_seen[id(layer)], layers[id(layer)] = 0, -1, layer
    return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], first_seen[id(layer)]))

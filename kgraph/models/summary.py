"""`model.summary()`: Keras's table of layers, output shapes and parameter counts."""

from __future__ import annotations

import numpy as np

_WIDTHS = (33, 26, 15)


def _count(weights) -> int:
    return int(sum(np.prod(w.shape, dtype=np.int64) for w in weights))


def _bytes(n: int) -> str:
    size = n * 4
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _row(cells, left="│", mid="│", right="│") -> str:
    a, b, c = cells
    return f"{left} {a:<{_WIDTHS[0] - 2}} {mid} {b:<{_WIDTHS[1] - 2}} {mid} {c:>{_WIDTHS[2] - 2}} {right}"


def _rule(left, mid, right, fill) -> str:
    return left + mid.join(fill * w for w in _WIDTHS) + right


def _shape(layer, model) -> str:
    for node in layer._inbound_nodes:
        if node.outputs:
            shapes = [t.shape for t in node.outputs]
            text = ", ".join(str(s).replace(",)", ")") if len(s) != 1 else f"({s[0]},)" for s in shapes)
            return text if len(shapes) == 1 else f"[{text}]"
    return "?"


def print_summary(model, print_fn) -> None:
    lines = [
        f'Model: "{model.name}"',
        _rule("┏", "┳", "┓", "━"),
        _row(("Layer (type)", "Output Shape", "Param #"), "┃", "┃", "┃"),
        _rule("┡", "╇", "┩", "━"),
    ]
    layers = model.layers
    for i, layer in enumerate(layers):
        params = _count(layer.weights) if layer.built else 0
        lines.append(_row((f"{layer.name} ({type(layer).__name__})", _shape(layer, model), f"{params:,}")))
        if i < len(layers) - 1:
            lines.append(_rule("├", "┼", "┤", "─"))
    lines.append(_rule("└", "┴", "┘", "─"))
    weights = _count(model.weights) if model.built else 0
    trainable = _count(model.trainable_weights) if model.built else 0
    # As in Keras, the total counts the optimizer's variables once they exist (after the first step).
    built_optimizer = model.optimizer is not None and model._state is not None
    slots = _count(model.optimizer.variables) if built_optimizer else 0
    lines += [
        f" Total params: {weights + slots:,} ({_bytes(weights + slots)})",
        f" Trainable params: {trainable:,} ({_bytes(trainable)})",
        f" Non-trainable params: {weights - trainable:,} ({_bytes(weights - trainable)})",
    ]
    if built_optimizer:
        lines.append(f" Optimizer params: {slots:,} ({_bytes(slots)})")
    for line in lines:
        print_fn(line)

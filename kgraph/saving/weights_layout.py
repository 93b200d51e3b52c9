"""Where each variable of a model lives in a Keras 3 weights file (`model.weights.h5`, `*.weights.h5`).

Keras walks the model: the `layers` list first, each layer under a group named after its class in snake case
(`dense`, `dense_1`... counted in the model's layer order, not by layer name), then the optimizer. Layers
holding layers nest them under the attribute's name (`bidirectional/forward_layer`, `time_distributed/layer`),
and a recurrent layer's variables belong to its cell (`lstm/cell`). Every object's variables sit in its `vars`
group as datasets `"0"`, `"1"`... (trainable first, then the others), and the group's `name` attribute holds
the object's name. `StateEntry` is one such group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kgraph.layers.layer import Layer
from kgraph.variables import Variable


@dataclass
class StateEntry:
    """One `vars` group: its path, its owner's name and kind (model, layer, optimizer), and its variables."""

    path: str
    owner: str
    kind: str
    variables: list[Variable] = field(default_factory=list)
    #: Indices saved as integers (an optimizer's iteration count; variables that are `integer_valued`).
    integer: set[int] = field(default_factory=set)
    #: A file may hold only this many leading variables (an optimizer saved before its slots existed).
    leading: int | None = None

    def __post_init__(self):
        self.integer = self.integer | {i for i, v in enumerate(self.variables) if v.integer_valued}

    @property
    def size(self) -> int:
        return len(self.variables)

    @property
    def nbytes(self) -> int:
        """An upper bound of the bytes the entry's datasets need (8 per element: int64 or float64 at most)."""
        return int(sum(8 * max(1, v.value.size) for v in self.variables))


def keras_snake_case(name: str) -> str:
    """Keras's snake case for class names (`InputLayer` -> `input_layer`)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique(name: str, used: dict[str, int]) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def layer_variables(layer: Layer) -> list[Variable]:
    """A layer's own variables in Keras's saving order: trainable ones first."""
    own = list(layer._weights)
    return [v for v in own if v.trainable] + [v for v in own if not v.trainable]


def model_entries(model, include_optimizer: bool = True) -> list[StateEntry]:
    """Every `vars` group of `model`'s weights file, in Keras's order."""
    entries = [StateEntry("", model.name, "model", layer_variables(model))]
    visited = {id(model)}
    if getattr(model, "_subclassed", False):
        # Keras walks a subclassed model's attributes by name, `layers` (all sublayers) among them.
        entries += _attribute_entries(model, "", visited, extra={"layers": model.layers})
    else:
        entries += _container_entries(model.layers, "layers", visited)
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None:
        variables = list(optimizer.variables)
        slots = sum(len(group) for group in optimizer.slots.values())
        entry = StateEntry("optimizer", optimizer.name, "optimizer", variables, integer={0})
        entry.leading = len(variables) - slots
        entries.append(entry)
    return entries


def _container_entries(layers: list[Layer], path: str, visited: set[int]) -> list[StateEntry]:
    """A list of layers: each under its class name in snake case, numbered in list order."""
    entries = []
    used: dict[str, int] = {}
    for layer in layers:
        name = _unique(keras_snake_case(type(layer).__name__), used)
        entries += _layer_entries(layer, f"{path}/{name}", visited)
    return entries


def _layer_entries(layer: Layer, path: str, visited: set[int]) -> list[StateEntry]:
    """A layer's group, then the layers it holds (a nested model's `layers`, a custom layer's attributes)."""
    from kgraph.layers.rnn.base_rnn import RecurrentLayer
    from kgraph.models.model import Model

    if id(layer) in visited:
        return []
    visited.add(id(layer))
    if isinstance(layer, RecurrentLayer):
        # Keras's recurrent layers hold no variables of their own: they sit on the cell (`lstm_cell`...).
        cell = keras_snake_case(type(layer).__name__ + "Cell")
        return [
            StateEntry(path, layer.name, "layer"),
            StateEntry(f"{path}/cell", cell, "layer", layer_variables(layer)),
        ]
    groups = getattr(layer, "keras_weight_groups", None)
    if groups is not None:  # Keras keeps the variables on sublayers of its own (MultiHeadAttention's)
        own = StateEntry(path, layer.name, "layer")
        return [own] + [
            StateEntry(f"{path}/{name}", name, "layer", variables) for name, variables in groups()
        ]
    entries = [StateEntry(path, layer.name, "layer", layer_variables(layer))]
    if isinstance(layer, Model) and not getattr(layer, "_subclassed", False):
        return entries + _container_entries(layer.layers, f"{path}/layers", visited)
    return entries + _attribute_entries(layer, path, visited)


def _attribute_entries(owner, path: str, visited: set[int], extra: dict | None = None) -> list[StateEntry]:
    """Sublayers held in public attributes, by attribute name in sorted order (as Keras walks `dir()`)."""
    attributes = {name: value for name, value in vars(owner).items() if not name.startswith("_")}
    attributes.update(extra or {})
    entries = []
    for name in sorted(attributes):
        value = attributes[name]
        where = f"{path}/{name}" if path else name
        if isinstance(value, Layer):
            entries += _layer_entries(value, where, visited)
        elif isinstance(value, list | tuple) and any(isinstance(v, Layer) for v in value):
            entries += _container_entries([v for v in value if isinstance(v, Layer)], where, visited)
    return entries


def legacy_layer_variables(layer: Layer) -> list[Variable]:
    """All variables of a layer, sublayers' included, in the legacy `.h5` order (trainable first)."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)

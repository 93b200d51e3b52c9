"""Where each variable of a model lives in a Keras 3 weights file (`model.weights.h5`, `*.weights.h5`).

Keras walks the model: the `layers` list first, each layer under a group named after its class in snake case
(`dense`, `dense_1`... counted in the model's layer order, not by layer name), then the optimizer. Every
object's variables sit in its `vars` group as datasets `"0"`, `"1"`... (trainable first, then the others),
and the group's `name` attribute holds the object's name. `StateEntry` is one such group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from kgraph.layers.layer import Layer
from kgraph.variables import Variable


@dataclass
class StateEntry:
    """One `vars` group: its path, its owner's name and kind, and the values it holds.

    `variables` are kgraph variables filled on load; `constants` are state kgraph does not keep (a Keras
    seed generator's state) written with a fixed value and checked only for shape on load.
    """

    path: str
    owner: str
    kind: str
    variables: list[Variable] = field(default_factory=list)
    constants: list[np.ndarray] = field(default_factory=list)
    integer: set[int] = field(default_factory=set)
    #: A file may hold only this many leading variables (an optimizer saved before its slots existed).
    leading: int | None = None

    @property
    def size(self) -> int:
        return len(self.variables) + len(self.constants)

    @property
    def nbytes(self) -> int:
        arrays = [v.value for v in self.variables] + self.constants
        return int(sum(8 * max(1, a.size) for a in arrays))


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


def _saved_layers(model) -> list[Layer]:
    from kgraph.saving.model_config import keras_layer_order

    return keras_layer_order(model)


def model_entries(model, include_optimizer: bool = True) -> list[StateEntry]:
    """Every `vars` group of `model`'s weights file, in Keras's order."""
    entries = [StateEntry("", model.name, "model")]
    entries += _layer_entries(model, "")
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None:
        variables = list(optimizer.variables)
        slots = sum(len(group) for group in optimizer.slots.values())
        entries.append(
            StateEntry(
                "optimizer",
                optimizer.name,
                "optimizer",
                variables,
                integer={0},
                leading=len(variables) - slots,
            )
        )
    return entries


def _layer_entries(model, prefix: str) -> list[StateEntry]:
    from kgraph.models.model import Model

    entries = []
    used: dict[str, int] = {}
    for layer in _saved_layers(model):
        path = f"{prefix}layers/{_unique(keras_snake_case(type(layer).__name__), used)}"
        entries.append(StateEntry(path, layer.name, "layer", layer_variables(layer)))
        if isinstance(layer, Model):
            entries += _layer_entries(layer, f"{path}/")
    return entries

"""The variable store: every variable of a model (weights, gradients, optimizer slots, metric state) as a view
into one flat float32 array, which compiled programs read and update in place.

Regions are contiguous, so a whole region (all trainable weights, all their gradients, one optimizer slot for
every weight) is itself a flat view that one fused kernel can update.
"""

from __future__ import annotations

import numpy as np

from kgraph.variables import Variable, moves


class VariableStore:
    def __init__(self, variables: list[Variable], regions: dict[str, list[Variable]] | None = None):
        """Lays out `variables` in order; `regions` names runs of them exposed as flat views."""
        unique = list({v.key: v for v in variables}.values())
        self.layout: dict[str, tuple[int, tuple]] = {}
        offset = 0
        for v in unique:
            self.layout[v.key] = (offset, v.shape)
            offset += int(np.prod(v.shape, dtype=np.int64))
        self.array = np.zeros(max(offset, 1), np.float32)
        self._views = {}
        for v in unique:
            start, shape = self.layout[v.key]
            self._views[v.key] = self.array[start : start + v._value.size].reshape(shape)
            v._rebind(self._views[v.key])
        self.variables = {v.key: v for v in unique}
        self._moves = moves()
        self.regions: dict[str, Variable] = {}
        for name, members in (regions or {}).items():
            self.regions[name] = self._region(name, members)

    def claim(self) -> None:
        """Moves back (with their current values) the variables another store took since the last claim.

        A variable lives in one store at a time; a gradient tape's store and a model's store may take turns.
        """
        if self._moves == moves():
            return
        for key, v in self.variables.items():
            if v._value is not self._views[key]:
                v._rebind(self._views[key])
        self._moves = moves()

    def _region(self, name: str, members: list[Variable]) -> Variable:
        if not members:
            start, size = 0, 0
        else:
            start = self.layout[members[0].key][0]
            size = sum(int(np.prod(m.shape, dtype=np.int64)) for m in members)
            expected = start
            for m in members:
                if self.layout[m.key][0] != expected:
                    raise AssertionError(f"region {name} is not contiguous at {m.path}")
                expected += int(np.prod(m.shape, dtype=np.int64))
        flat = Variable(np.zeros(size, np.float32), name=name, trainable=False)
        flat._value = self.array[start : start + size]
        self.layout[flat.key] = (start, (size,))
        flat.covers = [m.key for m in members]
        return flat

    def owns(self, variable: Variable) -> bool:
        return variable.key in self.layout and np.shares_memory(variable._value, self.array)

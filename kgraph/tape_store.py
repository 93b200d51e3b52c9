"""Where tape programs keep their variables: one flat store, grown by appending, shared by the programs.

The gradient program of a tape block and the optimizer update that follows it read the same weights, so both
run on one `TapeStore`: the weights move into it once (`Variable._rebind`) and stay there, with no copy per
step. Appending never moves what is already placed, so a program compiled against the store stays valid as
it grows (an optimizer's slots join it at the first `apply_gradients`). A model's own store (`fit`,
`predict`) and a tape store take turns through `VariableStore.claim`: whichever runs next moves the
variables back with their current values.
"""

from __future__ import annotations

import itertools

import numpy as np

from kgraph.codegen.cpu import ProgramLayout
from kgraph.ir.graph import Graph
from kgraph.passes.pipeline import run_pipeline
from kgraph.runtime.backends import make_program, resolved_backend
from kgraph.runtime.store import VariableStore
from kgraph.variables import Variable, moves, order_writes_after_reads


class TapeStore(VariableStore):
    """A variable store that grows: `place` appends variables after those already laid out."""

    def __init__(self):
        super().__init__([])
        self.size = 0
        self._regions: dict[tuple, Variable] = {}  # member keys -> flat variable
        self.retired = False  # set when another tape store took some of its variables

    def place(self, variables: list[Variable]) -> None:
        new = [v for v in dict.fromkeys(variables) if v.key not in self.layout]
        if not new:
            return
        for v in new:
            self.layout[v.key] = (self.size, v.shape)
            self.size += v._value.size
            self.variables[v.key] = v
        self.array = np.zeros(max(self.size, 1), np.float32)
        for key, v in self.variables.items():
            start, shape = self.layout[key]
            self._views[key] = self.array[start : start + v._value.size].reshape(shape)
            v._rebind(self._views[key])  # copies the current value, wherever the variable lived
            v._tape_store = self
        self._moves = moves()

    def region(self, members: list[Variable]) -> Variable | None:
        """A flat variable over `members` where the store holds them back to back in this order, else None.

        Only the layout knows it (the store never rebinds or copies it): programs read and write the span.
        """
        start = self.layout[members[0].key][0]
        end = start
        for member in members:
            if self.layout[member.key][0] != end:
                return None
            end += member._value.size
        key = tuple(m.key for m in members)
        flat = self._regions.get(key)
        if flat is None:
            flat = Variable(np.zeros(end - start, np.float32), name="tape/region", trainable=False)
            flat.covers = list(key)
            self.layout[flat.key] = (start, (end - start,))
            self._regions[key] = flat
        return flat


def store_for(variables: list[Variable]) -> TapeStore:
    """The tape store that holds all of `variables` (placed in this order when new to it)."""
    stores = list(
        dict.fromkeys(
            s for v in variables if (s := getattr(v, "_tape_store", None)) is not None and not s.retired
        )
    )
    store = stores[0] if stores else TapeStore()
    for other in stores[1:]:  # its programs would read variables that now live elsewhere
        other.retired = True
    store.place(variables)
    return store


class TapeProgram:
    """A tape graph compiled against a tape store; runs once per call on whole feeds.

    `placed_first` (a program's results) are laid out back to back (`results`: their offsets), first in the
    store. With `results_outside`, each run passes a row after the feeds and the results are written there,
    into memory of the caller's own: straight from the kernels where the backend takes such a row
    (`ProgramLayout.outside`), else (CUDA) copied there from the store after the run.
    """

    def __init__(
        self,
        graph: Graph,
        feed_names: list[str],
        title: str,
        placed_first: list[Variable] = (),
        results_outside: bool = False,
    ):
        order_writes_after_reads(graph)
        variables = list(graph.nx.graph.get("variable_objects", {}).values())
        offsets = itertools.accumulate([v._value.size for v in placed_first], initial=0)
        self.results = {v.key: offset for v, offset in zip(placed_first, offsets, strict=False)}
        outside = {}
        if results_outside and resolved_backend() != "cuda":
            outside = {v.key: (self.results[v.key], v.shape) for v in placed_first}
            variables = [v for v in variables if v.key not in outside]
            placed_first = ()
        self.store = store_for([*placed_first, *variables])  # new variables are appended in this order
        self._copied = None  # (start, end) in the store of results a run copies into its row
        if results_outside and not outside:
            start = self.store.layout[placed_first[0].key][0]
            self._copied = (start, start + sum(v._value.size for v in placed_first))
        inputs = feed_names + (["result_block"] if outside else [])
        layout = ProgramLayout({v.key: self.store.layout[v.key] for v in variables}, inputs, [], outside)
        planned = run_pipeline(graph, 1, title=title, backend=resolved_backend())
        self.program = make_program(planned, layout, title)

    @property
    def stale(self) -> bool:
        return self.store.retired

    def run(self, data: list[np.ndarray]) -> None:
        """Runs the program on `data` (one 1 x size row per feed, in `feed_names` order, then the results
        row with `results_outside`)."""
        store = self.store
        store.claim()
        if self._copied is None:
            self.program.run_whole(store.array, data)
            return
        self.program.run_whole(store.array, data[:-1])
        np.copyto(data[-1][0], store.array[self._copied[0] : self._copied[1]])

    def value(self, variable: Variable) -> np.ndarray:
        start, shape = self.store.layout[variable.key]
        return self.store.array[start : start + variable._value.size].reshape(shape)

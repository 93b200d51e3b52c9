"""Memory for the results of a tape's gradient program: fresh memory for every run, reused once free.

`tape.gradient` returns views into a result block of its own, so that gradients (and the values read with
`Sym.numpy()`) outlive later steps: the compiled program writes the block into memory the run passes it
(`ProgramLayout.outside`), or on CUDA into the store, which is then copied. Fresh memory and six views at
every step cost microseconds of the ~40 a small model's step takes. A training loop drops a step's
gradients a step or two later, so result sets are kept in a small pool, and a run reuses one when nothing
outside the pool refers to its buffer, its rows or any of its views: their reference counts are back to
what they were when the set was made. Anything a user keeps (a gradient, a slice of one, a computed value,
the gradient list) holds a reference, so its set is never written again.
"""

from __future__ import annotations

import sys

import numpy as np

_POOL_SIZE = 3  # a loop at module level still holds the last step's gradients while the next runs


class ResultSet:
    """One result block: the buffer, its gradient views, the 1 x size rows the program and the update take."""

    __slots__ = ("buffer", "grads", "whole", "row", "_watched", "_baseline")

    def __init__(self, size: int, cuts: list, grads_size: int):
        self.buffer = buffer = np.empty(size, np.float32)
        self.grads = [
            None if cut is None else buffer[cut[0]] if cut[1] is None else buffer[cut[0]].reshape(cut[1])
            for cut in cuts
        ]
        self.whole, self.row = buffer[None], buffer[None, :grads_size]
        # What a caller can hold: the buffer (through any view of it) and each gradient view. (`whole` lives
        # for one run; `row` is the tape's own, for the update of this very set.)
        self._watched = [buffer, *(g for g in self.grads if g is not None)]
        self._baseline = None

    def seal(self) -> None:
        """Notes the reference counts while only the pool refers to the set (before it is handed out)."""
        self._baseline = tuple(map(sys.getrefcount, self._watched))

    def free(self) -> bool:
        return tuple(map(sys.getrefcount, self._watched)) == self._baseline


class ResultPool:
    """The result sets of one gradient program."""

    def __init__(self, size: int, cuts: list, grads_size: int):
        self._size, self._cuts, self._grads_size = size, cuts, grads_size
        self._sets: list[ResultSet] = []

    def take(self) -> ResultSet:
        """A set nothing outside the pool refers to: a free one, else a new one (pooled if there is room)."""
        for result in self._sets:
            if result.free():
                return result
        result = ResultSet(self._size, self._cuts, self._grads_size)
        if len(self._sets) < _POOL_SIZE:
            self._sets.append(result)
            result.seal()
        return result

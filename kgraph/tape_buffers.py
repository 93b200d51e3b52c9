"""Memory for the results of a tape's gradient program: a fresh buffer for every run, reused once free.

`tape.gradient` returns views into a copy of the program's result block, so that gradients (and the values
read with `Sym.numpy()`) outlive later steps. Making that copy and six views costs a few microseconds of
the ~40 a small model's step takes. A training loop drops a step's gradients a step or two later, so the
copies and their views are kept in a small pool, and a run reuses one when nothing outside the pool refers
to its buffer, its row or any of its views: their reference counts are back to what they were when the set
was made. Anything a user keeps (a gradient, a slice of one, a computed value, the gradient list) holds a
reference, so its set is never written again.
"""

from __future__ import annotations

import sys

import numpy as np

_POOL_SIZE = 3  # a loop at module level still holds the last step's gradients while the next runs


class ResultSet:
    """One copy of a result block: the buffer, its gradient views and the 1 x size row the update reads."""

    __slots__ = ("buffer", "grads", "row", "_watched", "_baseline")

    def __init__(self, block: np.ndarray, cuts: list, grads_size: int):
        self.buffer = buffer = block.copy()
        self.grads = [
            None if cut is None else buffer[cut[0]] if cut[1] is None else buffer[cut[0]].reshape(cut[1])
            for cut in cuts
        ]
        self.row = buffer[None, :grads_size]
        self._watched = [buffer, self.row, *(g for g in self.grads if g is not None)]
        self._baseline = None

    def seal(self) -> None:
        """Notes the reference counts while only the pool refers to the set (before it is handed out)."""
        self._baseline = tuple(map(sys.getrefcount, self._watched))

    def free(self) -> bool:
        return tuple(map(sys.getrefcount, self._watched)) == self._baseline


class ResultPool:
    """The result sets of one gradient program."""

    def __init__(self, cuts: list, grads_size: int):
        self._cuts, self._grads_size = cuts, grads_size
        self._sets: list[ResultSet] = []

    def take(self, block: np.ndarray) -> ResultSet:
        """A set holding a copy of `block`: a free one rewritten, else a new one (pooled if there is room)."""
        for result in self._sets:
            if result.free():
                np.copyto(result.buffer, block)
                return result
        result = ResultSet(block, self._cuts, self._grads_size)
        if len(self._sets) < _POOL_SIZE:
            self._sets.append(result)
            result.seal()
        return result

"""Values of the IR: a shape (with `None` for the batch dimension) and a dtype."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Shape = tuple[int | None, ...]

DTYPE_NAMES = {"float32": "f32", "int32": "i32", "int64": "i64", "bool": "bool"}


@dataclass(frozen=True)
class TensorType:
    """The static type of one IR value.

    `None` in `shape` stands for the batch dimension, which is only known when a step runs; buffers are
    planned for the largest batch and every kernel reads its extents from the arrays it is given.
    """

    shape: Shape
    dtype: str = "float32"

    def __post_init__(self):
        if self.dtype not in DTYPE_NAMES:
            raise ValueError(f"Unsupported dtype {self.dtype!r}; expected one of {sorted(DTYPE_NAMES)}.")

    @property
    def rank(self) -> int:
        return len(self.shape)

    def concrete_shape(self, batch_size: int) -> tuple[int, ...]:
        return tuple(batch_size if d is None else d for d in self.shape)

    def size(self, batch_size: int) -> int:
        return int(np.prod(self.concrete_shape(batch_size), dtype=np.int64))

    def nbytes(self, batch_size: int) -> int:
        return self.size(batch_size) * np.dtype(self.dtype).itemsize

    def __str__(self) -> str:
        dims = ",".join("B" if d is None else str(d) for d in self.shape)
        return f"{DTYPE_NAMES[self.dtype]}[{dims}]"


def broadcast_shapes(*shapes: Shape) -> Shape:
    """Numpy broadcasting where `None` (the batch) only matches `None` or 1."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise ValueError(f"Shapes {[format_shape(s) for s in shapes]} cannot be broadcast together.")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def format_shape(shape: Shape) -> str:
    return (
        "("
        + ", ".join("None" if d is None else str(d) for d in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def result_dtype(*dtypes: str) -> str:
    """Float wins over integers, so `int labels * float` stays float32, as Keras does."""
    return "float32" if "float32" in dtypes or not dtypes else dtypes[0]


def element_count_source(shape) -> int | str:
    """The number of elements of `shape` as an opaque op's view-shape entry: an int, or source such as
    `n * 80` when the batch axis is unknown."""
    static = math.prod(d for d in shape if d is not None)
    return f"n * {static}" if None in shape else static

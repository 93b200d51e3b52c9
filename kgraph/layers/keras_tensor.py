"""KerasTensor: a symbolic value of a model being defined, and the layer calls that connect them."""

from __future__ import annotations

from dataclasses import dataclass, field


class KerasTensor:
    """A layer's output on symbolic inputs: its shape (None for the batch) and the call that made it."""

    def __init__(self, shape, dtype: str = "float32", node: CallNode | None = None, name: str | None = None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


@dataclass(eq=False)
class CallNode:
    """One call of a layer in a model definition."""

    layer: object
    inputs: list[KerasTensor]
    as_list: bool
    training: object = None
    kwargs: dict = field(default_factory=dict)
    outputs: list[KerasTensor] = field(default_factory=list)


def to_structure(value, fn, leaf=None):
    """Applies `fn` to each leaf of a (possibly nested) list/tuple, keeping lists as lists."""
    is_leaf = leaf or (lambda x: not isinstance(x, list | tuple))
    if is_leaf(value):
        return fn(value)
    return [to_structure(v, fn, leaf) for v in value]

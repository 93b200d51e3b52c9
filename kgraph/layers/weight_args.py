"""The `{prefix}_initializer/_regularizer/_constraint` arguments of a layer's weights (kernel, bias,
depthwise...): stored on the layer, used to create a weight, and written back into its config."""

from __future__ import annotations

from kgraph import constraints, initializers, regularizers


def serialize_optional(module, obj):
    """`module.serialize(obj)`, or None for no regularizer or constraint (Keras's config value for none)."""
    return None if obj is None else module.serialize(obj)


def set_weight_args(layer, prefix: str, initializer, regularizer, constraint) -> None:
    setattr(layer, f"{prefix}_initializer", initializers.get(initializer))
    setattr(layer, f"{prefix}_regularizer", regularizers.get(regularizer))
    setattr(layer, f"{prefix}_constraint", constraints.get(constraint))


def add_kernel(layer, shape: tuple, prefix: str, name: str):
    """A weight created with the layer's `{prefix}_initializer/_regularizer/_constraint`."""
    return layer.add_weight(
        shape,
        getattr(layer, f"{prefix}_initializer"),
        name=name,
        regularizer=getattr(layer, f"{prefix}_regularizer"),
        constraint=getattr(layer, f"{prefix}_constraint"),
    )


def serialize_weight_args(layer, prefix: str) -> dict:
    """The `{prefix}_initializer/_regularizer/_constraint` entries of a layer's config."""
    return {
        f"{prefix}_initializer": initializers.serialize(getattr(layer, f"{prefix}_initializer")),
        f"{prefix}_regularizer": serialize_optional(regularizers, getattr(layer, f"{prefix}_regularizer")),
        f"{prefix}_constraint": serialize_optional(constraints, getattr(layer, f"{prefix}_constraint")),
    }

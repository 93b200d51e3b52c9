"""Gradient clipping with Keras 3's formulas, written with `kgraph.ops` so it runs eagerly and traced.

The expressions keep Keras's operation order (and which constants are folded in Python, which in float32), so
clipped gradients match Keras bit for bit up to the order of summation.
"""

from __future__ import annotations

from kgraph import ops


def clip_by_norm(grad, clipnorm: float):
    """Scales `grad` so that its L2 norm is at most `clipnorm`.

    An all-zero gradient stays zero: the square root is taken of a safe value where the sum is zero, as Keras
    does to keep NaN out of the graph.

    Args:
        grad: a gradient tensor (array, symbolic tensor or variable).
        clipnorm: the largest norm allowed.

    Returns:
        `grad * clipnorm / max(norm(grad), clipnorm)`.
    """
    l2sum = ops.sum(ops.square(grad), keepdims=True)
    positive = ops.greater(l2sum, 0.0)
    safe = ops.where(positive, l2sum, ops.ones_like(l2sum))
    l2norm = ops.where(positive, ops.sqrt(safe), l2sum)
    return ops.divide(ops.multiply(grad, clipnorm), ops.maximum(l2norm, clipnorm))


def global_norm(grads: list):
    """The L2 norm of all `grads` together (None entries are skipped)."""
    squared = [ops.sum(ops.square(g)) for g in grads if g is not None]
    return ops.sqrt(ops.sum(ops.stack(squared)))


def clip_by_global_norm(grads: list, clipnorm: float) -> list:
    """Scales all `grads` by one factor so that their global norm is at most `clipnorm`.

    A non-finite global norm makes every gradient NaN (as in Keras), so a diverging step is visible rather
    than silently skipped.
    """
    return scale_by_norm(grads, global_norm(grads), clipnorm)


def scale_by_norm(grads: list, norm, clipnorm: float) -> list:
    """Scales `grads` by `clipnorm / max(norm, clipnorm)`, given their (global) `norm`."""
    finite_scale = ops.multiply(clipnorm, ops.minimum(ops.divide(1.0, norm), 1.0 / clipnorm))
    scale = ops.add(finite_scale, ops.subtract(norm, norm))
    return [None if g is None else ops.multiply(g, scale) for g in grads]

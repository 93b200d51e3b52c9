"""Dot: the dot product of two batched tensors along one axis of each (Keras's `batch_dot`).

The product is a broadcast multiply and a sum over the contracted axis: x's other axes, then y's (batch first,
then the contracted axis dropped), as Keras orders them.
"""

from __future__ import annotations

from kgraph import ops
from kgraph.layers.merging.merge import Merge


class Dot(Merge):
    """Keras's Dot.

    Args:
        axes: an int (the same axis of both inputs) or `(axis_of_x, axis_of_y)`; never the batch axis 0.
        normalize: whether to L2-normalize both inputs along those axes first (the output is then the cosine
            similarity).

    Example:
        >>> Dot(axes=1)([np.ones((2, 3), "float32"), np.ones((2, 3), "float32")])
        array([[3.], [3.]], dtype=float32)
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, list | tuple):
                raise TypeError(
                    "Invalid type for argument `axes`: it should be a list or an int. Received: "
                    f"axes={axes} (layer '{self.name}')"
                )
            if len(axes) != 2:
                raise ValueError(
                    "Invalid format for argument `axes`: it should contain two elements. Received: "
                    f"axes={axes} (layer '{self.name}')"
                )
            if not all(isinstance(a, int) for a in axes):
                raise ValueError(
                    "Invalid format for argument `axes`: list elements should be integers. Received: "
                    f"axes={axes} (layer '{self.name}')"
                )
        self.axes = axes
        self.normalize = normalize

    def _check(self, inputs) -> None:
        if not isinstance(inputs, list | tuple) or len(inputs) != 2:
            raise ValueError(
                f"A `Dot` layer ('{self.name}') should be called on a list of 2 inputs. Received: "
                f"inputs={inputs}"
            )

    def _resolved_axes(self, shape1, shape2) -> tuple[int, int]:
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        a1, a2 = axes[0] % len(shape1), axes[1] % len(shape2)
        if 0 in (a1, a2):
            raise ValueError(
                f"Dot '{self.name}': cannot take the dot product over the batch axis 0. "
                f"Received: axes={self.axes}"
            )
        if shape1[a1] != shape2[a2]:
            raise ValueError(
                f"Incompatible input shapes: axis values {shape1[a1]} (at axis {a1}) != {shape2[a2]} "
                f"(at axis {a2}). Full input shapes: {tuple(shape1)}, {tuple(shape2)} (layer '{self.name}')"
            )
        return a1, a2

    def call(self, inputs):
        x, y = inputs
        a1, a2 = self._resolved_axes(ops.shape(x), ops.shape(y))
        if self.normalize:
            # x / max(|x|, 1e-7), Keras's bound on the norm.
            x, y = ops.l2_normalize(x, a1, epsilon=1e-14), ops.l2_normalize(y, a2, epsilon=1e-14)
        x = ops.transpose(x, (*(a for a in range(ops.ndim(x)) if a != a1), a1))  # (batch, X..., d)
        y = ops.transpose(y, (0, *(a for a in range(1, ops.ndim(y)) if a != a2), a2))  # (batch, Y..., d)
        x_rest, y_rest = ops.ndim(x) - 2, ops.ndim(y) - 2
        x = ops.reshape(x, (*ops.shape(x)[:-1], *([1] * y_rest), ops.shape(x)[-1]))
        y = ops.reshape(y, (ops.shape(y)[0], *([1] * x_rest), *ops.shape(y)[1:]))
        out = ops.sum(ops.multiply(x, y), axis=-1)
        return ops.expand_dims(out, -1) if ops.ndim(out) == 1 else out

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def compute_output_shape(self, input_shape):
        shape1, shape2 = (list(s) for s in input_shape)
        a1, a2 = self._resolved_axes(shape1, shape2)
        out = [d for i, d in enumerate(shape1) if i != a1]
        out += [d for i, d in enumerate(shape2) if i not in (0, a2)]
        return tuple(out) if len(out) > 1 else (*out, 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def dot(inputs, axes=-1, **kwargs):
    """Functional form of `Dot`."""
    return Dot(axes=axes, **kwargs)(inputs)

"""LayerNormalization: normalizes each sample over the feature axes, then scales and shifts per feature.

Computed in Keras's form, `x * inv + (beta - mean * inv)` with `inv = gamma / sqrt(variance + epsilon)` and
the biased variance; over the last axis the mean and variance are row reductions that fuse into one loop.
"""

from __future__ import annotations

import warnings

from kgraph import constraints, initializers, ops, regularizers
from kgraph.layers.layer import Layer
from kgraph.layers.weight_args import serialize_optional


class LayerNormalization(Layer):
    """Keras's LayerNormalization.

    Args:
        axis: an axis or a list of axes to normalize over (default -1).
        epsilon: added to the variance before its square root.
        center, scale: whether to learn an offset `beta` and a scale `gamma` (shaped like the normalized
            axes).
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer, beta_constraint,
            gamma_constraint: as for Dense's weights.
        rms_scaling: Keras's deprecated option: divide by the standard deviation without centring, no beta.

    Example:
        >>> LayerNormalization()(np.arange(6, dtype="float32").reshape(2, 3)).shape
        (2, 3)
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        rms_scaling = kwargs.pop("rms_scaling", False)
        super().__init__(**kwargs)
        if rms_scaling:
            warnings.warn(
                "You passed `rms_scaling=True`, which is deprecated. This argument incorrectly scales the "
                "input by the variance, not the root mean square. To correctly use RMS Normalization, "
                "please use `keras.layers.RMSNormalization` instead.",
                stacklevel=2,
            )
        self.axis = standardize_axis(axis, self.name)
        self.epsilon = epsilon
        self.center, self.scale, self.rms_scaling = center, scale, rms_scaling
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True
        self.gamma = self.beta = None

    def _axes(self, rank: int) -> list[int]:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -rank <= a < rank:
                raise ValueError(
                    f"Axis {a} is out of bounds for an input of rank {rank}. Received: axis={self.axis} "
                    f"(layer '{self.name}')"
                )
        return sorted(a % rank for a in axes)

    def build(self, input_shape) -> None:
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(
                f"LayerNormalization '{self.name}': the normalized axes {self.axis} must be defined, "
                f"received input_shape={tuple(input_shape)}."
            )
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight(
                shape,
                self.gamma_initializer,
                name="gamma",
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
            )
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight(
                shape,
                self.beta_initializer,
                name="beta",
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
            )
        self.built = True

    def call(self, inputs):
        rank = ops.ndim(inputs)
        axes = self._axes(rank)
        # Weights shaped like the normalized axes broadcast as they are when those are the trailing axes.
        trailing = axes == list(range(rank - len(axes), rank))
        broadcast = tuple(ops.shape(inputs)[a] if a in axes else 1 for a in range(rank))

        def per_feature(v):
            return v if trailing else ops.reshape(v, broadcast)

        variance = ops.var(inputs, axes, keepdims=True)
        inv = ops.rsqrt(ops.add(variance, self.epsilon))
        if self.rms_scaling:
            out = ops.multiply(inputs, inv)
            return ops.multiply(out, per_feature(self.gamma)) if self.gamma is not None else out
        mean = ops.mean(inputs, axes, keepdims=True)
        if self.gamma is not None:
            inv = ops.multiply(inv, per_feature(self.gamma))
        offset = ops.negative(ops.multiply(mean, inv))
        if self.beta is not None:
            offset = ops.add(offset, per_feature(self.beta))
        return ops.add(ops.multiply(inputs, inv), offset)

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": serialize_optional(regularizers, self.beta_regularizer),
            "gamma_regularizer": serialize_optional(regularizers, self.gamma_regularizer),
            "beta_constraint": serialize_optional(constraints, self.beta_constraint),
            "gamma_constraint": serialize_optional(constraints, self.gamma_constraint),
        }


def standardize_axis(axis, layer_name: str):
    """The `axis` argument of a normalization layer: an int, or a list of ints (from a list or tuple)."""
    if isinstance(axis, list | tuple):
        return list(axis)
    if isinstance(axis, int):
        return axis
    raise TypeError(
        f"Expected an int or a list/tuple of ints for the argument 'axis', but received: {axis!r} "
        f"(layer '{layer_name}')"
    )

"""The activation layers of Keras with arguments of their own: ReLU, LeakyReLU, ELU, Softmax (with a mask)
and PReLU (a learned slope per unit). Each is its activation function of `kgraph.activations`."""

from __future__ import annotations

import warnings

from kgraph import activations, constraints, initializers, ops, regularizers
from kgraph.layers.input_spec import InputSpec
from kgraph.layers.layer import Layer
from kgraph.layers.weight_args import serialize_optional

_LARGE_NEGATIVE = -1e9  # what a masked position's logit becomes before a softmax (Keras's float32 value)


class _ShapePreserving(Layer):
    """An elementwise layer: same shape out, masks pass through."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _check_non_negative(layer: str, name: str, value, allow_none: bool = False) -> None:
    if (value is None and not allow_none) or (value is not None and value < 0.0):
        raise ValueError(
            f"{name} of a {layer} layer cannot be {'' if allow_none else 'None or '}a negative value. "
            f"Received: {name}={value}"
        )


class ReLU(_ShapePreserving):
    """Rectified linear unit: `activations.relu(x, negative_slope, max_value, threshold)`.

    Args:
        max_value: the largest output (None: no cap).
        negative_slope: the slope below the threshold.
        threshold: values at or below it are damped (or zeroed).
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        _check_non_negative("ReLU", "max_value", max_value, allow_none=True)
        _check_non_negative("ReLU", "negative_slope", negative_slope)
        _check_non_negative("ReLU", "threshold", threshold)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        return activations.relu(
            inputs, negative_slope=self.negative_slope, max_value=self.max_value, threshold=self.threshold
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(_ShapePreserving):
    """`x` where `x >= 0`, else `negative_slope * x` (Keras 3's default slope: 0.3; `alpha`: its old name)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
        super().__init__(**kwargs)
        _check_non_negative("LeakyReLU", "negative_slope", negative_slope)
        self.negative_slope = negative_slope

    def call(self, inputs):
        return activations.leaky_relu(inputs, negative_slope=self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_ShapePreserving):
    """Exponential linear unit: `x` where `x > 0`, else `alpha * (exp(x) - 1)`."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs):
        return activations.elu(inputs, alpha=self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_ShapePreserving):
    """Softmax along `axis`; where a mask (broadcast from the right) is 0, the output is 0.

    Args:
        axis: the axis (or axes) normalized over.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        keep = None
        if mask is not None:
            mask_shape, input_shape = tuple(ops.shape(mask)), tuple(ops.shape(inputs))
            broadcastable = len(mask_shape) <= len(input_shape) and all(
                m is None or i is None or m in (1, i)
                for m, i in zip(reversed(mask_shape), reversed(input_shape), strict=False)
            )
            if not broadcastable:
                raise ValueError(
                    f"Layer '{self.name}': the `mask` must be broadcastable to `inputs`. Received: "
                    f"inputs.shape={input_shape}, mask.shape={mask_shape}"
                )
            keep = ops.greater(mask, 0.5)
            inputs = ops.where(keep, inputs, _LARGE_NEGATIVE)
        axes = self.axis if isinstance(self.axis, list | tuple) else [self.axis]
        if len(axes) == 1:
            outputs = activations.softmax(inputs, axis=axes[0])
        else:
            shifted = inputs - ops.max(inputs, axis=tuple(axes), keepdims=True)
            exps = ops.exp(shifted)
            outputs = exps / ops.sum(exps, axis=tuple(axes), keepdims=True)
        return outputs if keep is None else ops.where(keep, outputs, 0.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class PReLU(_ShapePreserving):
    """Parametric ReLU: `x` where `x >= 0`, else `alpha * x`, with `alpha` learned per unit (one value along
    each of `shared_axes`).

    Args:
        alpha_initializer, alpha_regularizer, alpha_constraint: for the `alpha` weight.
        shared_axes: axes (counted with the batch as 0) along which one alpha is shared.
    """

    def __init__(
        self,
        alpha_initializer="Zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None or isinstance(shared_axes, list | tuple):
            self.shared_axes = None if shared_axes is None else list(shared_axes)
        else:
            self.shared_axes = [shared_axes]

    def build(self, input_shape):
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            param_shape[axis - 1] = 1
        self.alpha = self.add_weight(
            shape=tuple(param_shape),
            name="alpha",
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )
        axes = {i: input_shape[i] for i in range(1, len(input_shape)) if i not in (self.shared_axes or [])}
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)

    def call(self, inputs):
        return activations.relu(inputs) - self.alpha * activations.relu(-inputs)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": serialize_optional(regularizers, self.alpha_regularizer),
            "alpha_constraint": serialize_optional(constraints, self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }

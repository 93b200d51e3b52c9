"""Normalization: `(inputs - mean) / sqrt(variance)` with a mean and variance given or learned by `adapt`."""

from __future__ import annotations

import math

import numpy as np

from kgraph import ops
from kgraph.layers.layer import Layer

_EPSILON = 1e-7  # Keras's backend epsilon: the smallest standard deviation divided by


class Normalization(Layer):
    """Shifts and scales features to mean 0 and standard deviation 1, by statistics of the data.

    Args:
        axis: the axis or axes that keep their own mean and variance per index (default -1: per feature of
            the last axis); None for one mean and variance over everything.
        mean, variance: the statistics, given together (broadcast to the kept axes); otherwise `adapt`
            learns them.
        invert: apply the inverse transformation (turn normalized values back into data).

    Example:

    >>> normalizer = Normalization()
    >>> normalizer.adapt(x_train)  # per-feature mean and variance of the training data
    >>> model = Sequential([normalizer, Dense(1)])
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        self.input_mean, self.input_variance, self.invert = mean, variance, invert
        self.supports_masking = True
        self._build_input_shape = None
        if (mean is None) != (variance is None):
            raise ValueError(
                "When setting values directly, both `mean` and `variance` must be set. "
                f"Received: mean={mean} and variance={variance}"
            )
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    "When setting values directly, `mean` and `variance` must have the same shape. "
                    f"Received: mean shape {np.shape(mean)} and variance shape {np.shape(variance)}"
                )
            if np.ndim(mean) > len(self.axis):
                raise ValueError(
                    "The rank of `mean` must be less than or equal to the number of axes "
                    f"({len(self.axis)}). Received: mean shape {np.shape(mean)} for axis {self.axis}"
                )

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        rank = len(input_shape)
        if any(not -rank <= a < rank for a in self.axis):
            raise ValueError(
                "All `axis` values must be in the range [-ndim, ndim). "
                f"Received inputs with ndim={rank}, while axis={self.axis}"
            )
        self._build_input_shape = input_shape
        self._keep_axis = tuple(sorted(a % rank for a in self.axis))
        for a in self._keep_axis:
            if input_shape[a] is None:
                raise ValueError(
                    f"All `axis` values to be kept must have a known shape. Received axis={self.axis}, "
                    f"inputs.shape={input_shape}, with unknown axis at index {a}"
                )
        self._reduce_axis = tuple(a for a in range(rank) if a not in self._keep_axis)
        self._broadcast_shape = tuple(input_shape[a] if a in self._keep_axis else 1 for a in range(rank))
        kept_shape = tuple(input_shape[a] for a in self._keep_axis)
        self._kept_shape = kept_shape
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(
                name="mean", shape=kept_shape, initializer="zeros", trainable=False
            )
            self.adapt_variance = self.add_weight(
                name="variance", shape=kept_shape, initializer="ones", trainable=False
            )
            # Keras keeps it for files of older versions; adapt leaves it at 0.
            self.count = self.add_weight(name="count", shape=(), initializer="zeros", trainable=False)
            self.count.integer_valued = True  # an int in Keras's files
        else:
            self._given = [self._broadcast(v, rank) for v in (self.input_mean, self.input_variance)]
        self.built = True

    def _broadcast(self, value, rank: int) -> np.ndarray:
        """A given statistic over the input's axes: its axes align with the kept ones from the right."""
        value = np.asarray(value, np.float32)
        expanded = [1] * rank
        for i in range(1, value.ndim + 1):
            expanded[self._keep_axis[-i]] = value.shape[-i]
        return np.broadcast_to(value.reshape(expanded), self._broadcast_shape).copy()

    def adapt(self, data) -> None:
        """Learns the mean and variance of `data`: an array, or an iterable of batches (arrays, or `(x, y)`
        tuples whose first item is used), combined batch by batch as Keras does."""
        if isinstance(data, np.ndarray):
            batches, shape = None, data.shape
        elif hasattr(data, "__iter__"):
            batches = iter(data)
            first = next(batches, None)
            if first is None:
                raise ValueError(
                    "adapt() received an empty iterable (no batches). Expected at least one batch, e.g. "
                    "layer.adapt([x])."
                )
            first = np.asarray(first[0] if isinstance(first, tuple) else first)
            batches, shape = [first, *batches], first.shape
        else:
            raise TypeError(
                f"Unsupported data type: {type(data)}. `adapt` supports `np.ndarray` and iterables of "
                "batches (e.g. a list of arrays or a generator)."
            )
        if self.input_mean is not None:
            raise ValueError(f"Layer '{self.name}' was given its mean and variance: it cannot adapt.")
        if not self.built:
            self.build(shape)
        self._check_kept_sizes(shape)
        if batches is None:
            mean, variance = np.mean(data, axis=self._reduce_axis), np.var(data, axis=self._reduce_axis)
        else:
            mean, variance = self._combined_statistics(batches)
        self.adapt_mean.assign(np.asarray(mean, np.float32))
        self.adapt_variance.assign(np.asarray(variance, np.float32))

    def _check_kept_sizes(self, shape) -> None:
        if any(shape[a] != self._build_input_shape[a] for a in self._keep_axis):
            raise ValueError(
                f"The layer was built with input_shape={self._build_input_shape}, but adapt() is being "
                f"called with data with an incompatible shape, data.shape={tuple(shape)}"
            )

    def _combined_statistics(self, batches) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance over batches, each folded in by its share of the count so far (the variance by
        the lack-of-fit sum of squares), as Keras combines them."""
        mean = np.zeros(self._kept_shape, np.float32)
        variance = np.zeros(self._kept_shape, np.float32)
        count = 0
        for batch in batches:
            batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch, np.float32)
            self._check_kept_sizes(batch.shape)
            batch_mean = np.mean(batch, axis=self._reduce_axis)
            batch_variance = np.var(batch, axis=self._reduce_axis)
            batch_count = math.prod(batch.shape[a] for a in self._reduce_axis)
            count += batch_count
            weight = batch_count / count
            new_mean = mean * (1.0 - weight) + batch_mean * weight
            variance = (variance + (mean - new_mean) ** 2) * (1.0 - weight) + (
                batch_variance + (batch_mean - new_mean) ** 2
            ) * weight
            mean = new_mean
        return mean, variance

    def call(self, inputs):
        if self.input_mean is None:
            mean = ops.reshape(self.adapt_mean, self._broadcast_shape)
            variance = ops.reshape(self.adapt_variance, self._broadcast_shape)
        else:
            mean, variance = self._given
        scale = ops.maximum(ops.sqrt(variance), _EPSILON)
        if self.invert:
            return ops.add(mean, ops.multiply(inputs, scale))
        return ops.divide(ops.subtract(inputs, mean), scale)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": np.array(self.input_mean).tolist(),
            "variance": np.array(self.input_variance).tolist(),
        }

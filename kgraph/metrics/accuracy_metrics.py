"""Accuracy metrics: per-sample match functions, and the mean-of-matches classes built on them.

Labels arrive as float32 (sparse labels too), and argmax returns float32 indices, so comparisons are exact.
"""

from __future__ import annotations

import numpy as np

from kgraph import ops
from kgraph.losses.loss import as_float_tensor, squeeze_or_expand_to_same_rank
from kgraph.metrics.reduction import BuiltinMeanMetric


def accuracy(y_true, y_pred):
    """1 where `y_true == y_pred`, else 0."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(as_float_tensor(y_true), as_float_tensor(y_pred))
    return ops.equal(y_true, y_pred)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    """1 where `y_true` equals `y_pred > threshold`, else 0."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(as_float_tensor(y_true), as_float_tensor(y_pred))
    return ops.equal(y_true, ops.greater(y_pred, float(threshold)))


def categorical_accuracy(y_true, y_pred):
    """1 where the argmax of one-hot `y_true` equals the argmax of `y_pred`, else 0."""
    y_true = ops.argmax(as_float_tensor(y_true), axis=-1)
    y_pred = as_float_tensor(y_pred)
    original_shape = ops.shape(y_true)
    squeezed = ops.ndim(y_true) == ops.ndim(y_pred)
    if squeezed:
        y_true = ops.squeeze(y_true, -1)
    matches = ops.equal(y_true, ops.argmax(y_pred, axis=-1))
    return ops.reshape(matches, original_shape) if squeezed else matches


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where the integer label `y_true` equals the argmax of `y_pred`, else 0 (one value per sample)."""
    y_true, y_pred = as_float_tensor(y_true), as_float_tensor(y_pred)
    if ops.ndim(y_true) == ops.ndim(y_pred) and ops.shape(y_true)[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    return ops.equal(y_true, ops.argmax(y_pred, axis=-1))


def _in_top_k(labels, predictions, k: int):
    """1 where fewer than `k` predictions beat the one at `labels` (ties favour the label), else 0."""
    is_label = ops.one_hot(labels, int(ops.shape(predictions)[-1]))
    at_label = ops.sum(ops.where(is_label, predictions, 0.0), axis=-1, keepdims=True)
    rank = 1.0 + ops.sum(ops.greater(predictions, at_label), axis=-1)
    return ops.less_equal(rank, float(k))


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    """1 where the class of one-hot `y_true` is among the `k` largest of `y_pred`, else 0."""
    return _in_top_k(ops.argmax(as_float_tensor(y_true), axis=-1), as_float_tensor(y_pred), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5, from_sorted_ids: bool = False):
    """1 where the integer label `y_true` is among the `k` largest of `y_pred`, else 0.

    With `from_sorted_ids`, `y_pred` holds class ids sorted by score, and the first `k` are searched.
    """
    y_true, y_pred = as_float_tensor(y_true), as_float_tensor(y_pred)
    shape = ops.shape(y_true)
    labels = ops.reshape(y_true, shape[:-1]) if ops.ndim(y_true) == ops.ndim(y_pred) else y_true
    if from_sorted_ids:
        first_k = (np.arange(ops.shape(y_pred)[-1]) < k).astype(np.float32)
        matches = ops.max(ops.equal(ops.expand_dims(labels, -1), y_pred) * first_k, axis=-1)
    else:
        labels = ops.cast(labels, "int32")  # Keras truncates float labels to int32
        matches = _in_top_k(labels, y_pred, k)
    return ops.reshape(matches, shape)


class Accuracy(BuiltinMeanMetric):
    """How often predictions equal labels."""

    def __init__(self, name: str = "accuracy", dtype=None):
        super().__init__(accuracy, name, dtype, "up")


class BinaryAccuracy(BuiltinMeanMetric):
    """How often `y_pred > threshold` equals the binary label."""

    _config_keys = ("threshold",)

    def __init__(self, name: str = "binary_accuracy", dtype=None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name, dtype, "up", threshold=threshold)


class CategoricalAccuracy(BuiltinMeanMetric):
    """How often the argmax of the prediction matches that of the one-hot label."""

    def __init__(self, name: str = "categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype, "up")


class SparseCategoricalAccuracy(BuiltinMeanMetric):
    """How often the argmax of the prediction matches the integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype, "up")


class TopKCategoricalAccuracy(BuiltinMeanMetric):
    """How often the one-hot label's class is among the `k` top predictions."""

    _config_keys = ("k",)

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, "up", k=k)


class SparseTopKCategoricalAccuracy(BuiltinMeanMetric):
    """How often the integer label is among the `k` top predictions."""

    def __init__(
        self,
        k: int = 5,
        name: str = "sparse_top_k_categorical_accuracy",
        dtype=None,
        from_sorted_ids: bool = False,
    ):
        super().__init__(
            sparse_top_k_categorical_accuracy, name, dtype, "up", k=k, from_sorted_ids=from_sorted_ids
        )

    def get_config(self) -> dict:
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return config

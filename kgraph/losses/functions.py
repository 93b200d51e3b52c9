"""Per-sample loss functions, as Keras 3 computes them on the JAX backend.

Each returns one value per sample (the last axis reduced) and runs eagerly or traced. Probabilities are
clipped to [epsilon, 1 - epsilon] before logarithms, categorical outputs are renormalized to sum to 1, and
hinge losses turn {0, 1} labels into {-1, 1}, all as Keras does.
"""

from __future__ import annotations

import math
import warnings

from kgraph import config, ops
from kgraph.losses.loss import as_float_tensor, squeeze_or_expand_to_same_rank


def _per_sample(reduce):
    """`reduce` over one axis; over an axis of size 1, a reshape that gives the same values.

    Works around a CPU-backend bug (reported): a reduction over a size-1 axis, multiplied by a (batch,)
    vector such as the sample weights and summed, is miscompiled.
    """

    def reduced(x, axis=-1):
        return ops.squeeze(x, axis) if ops.shape(x)[axis] == 1 else reduce(x, axis=axis)

    return reduced


_mean, _sum, _max = _per_sample(ops.mean), _per_sample(ops.sum), _per_sample(ops.max)


def _aligned(y_true, y_pred):
    """Both as float tensors, ranks aligned (Keras's regression losses accept `(n,)` against `(n, 1)`)."""
    return squeeze_or_expand_to_same_rank(as_float_tensor(y_true), as_float_tensor(y_pred))


def _check_same_shape(target, output) -> None:
    if tuple(ops.shape(target)) != tuple(ops.shape(output)):
        raise ValueError(
            "Arguments `target` and `output` must have the same shape. Received: "
            f"target.shape={tuple(ops.shape(target))}, output.shape={tuple(ops.shape(output))}"
        )


def l2_normalize(x, axis: int = -1):
    """`x / ||x||` along `axis`, with the inverse norm capped at 1/epsilon so zero vectors stay zero."""
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    # rsqrt(max(s, eps**2)) equals Keras's min(rsqrt(s), 1/eps) without an infinity (and its nan gradient).
    return x * ops.rsqrt(ops.maximum(square_sum, config.epsilon() ** 2))


# --- regression ---------------------------------------------------------------------------------
def mean_squared_error(y_true, y_pred):
    """`mean(square(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return _mean(ops.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """`mean(abs(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return _mean(ops.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """`100 * mean(abs((y_true - y_pred) / max(abs(y_true), epsilon)), axis=-1)`."""
    y_true, y_pred = _aligned(y_true, y_pred)
    ratio = ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), config.epsilon()))
    return 100.0 * _mean(ratio, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """`mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)`."""
    y_true, y_pred = _aligned(y_true, y_pred)
    eps = config.epsilon()
    difference = ops.log(ops.maximum(y_pred, eps) + 1.0) - ops.log(ops.maximum(y_true, eps) + 1.0)
    return _mean(ops.square(difference), axis=-1)


def huber(y_true, y_pred, delta: float = 1.0):
    """Quadratic for errors up to `delta`, linear beyond: `0.5 e**2` or `delta * |e| - 0.5 delta**2`."""
    y_true, y_pred = _aligned(y_true, y_pred)
    delta = float(delta)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    return _mean(
        ops.where(
            ops.less_equal(abs_error, delta), 0.5 * ops.square(error), delta * abs_error - 0.5 * delta * delta
        ),
        axis=-1,
    )


def log_cosh(y_true, y_pred):
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`, computed as `x + softplus(-2x) - log 2`."""
    y_true, y_pred = _aligned(y_true, y_pred)
    x = y_pred - y_true
    return _mean(x + ops.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def cosine_similarity(y_true, y_pred, axis: int = -1):
    """Negative cosine similarity along `axis`: -1 for parallel vectors, 0 for orthogonal ones."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return -_sum(l2_normalize(y_true, axis) * l2_normalize(y_pred, axis), axis=axis)


# --- probabilistic ------------------------------------------------------------------------------
def binary_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
):
    """Binary cross-entropy, averaged over `axis`.

    Args:
        y_true: Targets in [0, 1], shaped like `y_pred`.
        y_pred: Probabilities (clipped to [epsilon, 1 - epsilon]) or, with `from_logits`, logits.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; targets move towards 0.5 by this fraction.
        axis: The axis averaged over.

    Raises:
        ValueError: If the shapes of `y_true` and `y_pred` differ.
    """
    y_pred = as_float_tensor(y_pred)
    y_true = as_float_tensor(y_true)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    _check_same_shape(y_true, y_pred)
    if from_logits:
        per_entry = -y_true * ops.log_sigmoid(y_pred) - (1.0 - y_true) * ops.log_sigmoid(-y_pred)
    else:
        eps = config.epsilon()
        output = ops.clip(y_pred, eps, 1.0 - eps)
        per_entry = -(y_true * ops.log(output) + (1.0 - y_true) * ops.log(1.0 - output))
    return _mean(per_entry, axis=axis)


def _log_probabilities(y_pred, from_logits: bool, axis: int):
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    eps = config.epsilon()
    output = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    return ops.log(ops.clip(output, eps, 1.0 - eps))


def categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1
):
    """Cross-entropy between one-hot (or soft) targets and a categorical distribution.

    Args:
        y_true: Targets, shaped like `y_pred`.
        y_pred: Probabilities (renormalized along `axis`, then clipped) or, with `from_logits`, logits.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: In [0, 1]; targets move towards uniform by this fraction.
        axis: The class axis.

    Raises:
        ValueError: If `axis` is a bool, or the shapes differ.
    """
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    y_pred = as_float_tensor(y_pred)
    y_true = as_float_tensor(y_true)
    if ops.ndim(y_pred) and ops.shape(y_pred)[-1] == 1:
        warnings.warn(
            "In loss categorical_crossentropy, expected y_pred.shape to be (batch_size, num_classes) "
            f"with num_classes > 1. Received: y_pred.shape={tuple(ops.shape(y_pred))}. Consider using "
            "'binary_crossentropy' if you only have 2 classes.",
            SyntaxWarning,
            stacklevel=2,
        )
    if label_smoothing:
        num_classes = float(ops.shape(y_true)[-1])
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    _check_same_shape(y_true, y_pred)
    if ops.ndim(y_true) < 1:
        raise ValueError(
            "Arguments `target` and `output` must be at least rank 1. Received: "
            f"target.shape={tuple(ops.shape(y_true))}, output.shape={tuple(ops.shape(y_pred))}"
        )
    return -_sum(y_true * _log_probabilities(y_pred, from_logits, axis), axis=axis)


def sparse_categorical_crossentropy_with_mask(
    y_true, y_pred, from_logits: bool = False, ignore_class=None, axis: int = -1
):
    """Sparse categorical cross-entropy, and the 0/1 mask of labels that count (None: all count)."""
    y_pred = as_float_tensor(y_pred)
    y_true = as_float_tensor(y_true)
    rank = ops.ndim(y_pred)
    if rank < 1:
        raise ValueError(
            f"Argument `output` must be at least rank 1. Received: output.shape={ops.shape(y_pred)}"
        )
    if axis % rank != rank - 1:
        raise ValueError(
            f"sparse_categorical_crossentropy supports the last axis as class axis only, "
            f"received axis={axis} for y_pred of rank {rank}."
        )
    if ops.ndim(y_true) == rank and ops.shape(y_true)[-1] == 1:
        y_true = ops.squeeze(y_true, -1)
    if tuple(ops.shape(y_true)) != tuple(ops.shape(y_pred)[:-1]):
        raise ValueError(
            "Arguments `target` and `output` must have the same shape up until the last dimension: "
            f"target.shape={tuple(ops.shape(y_true))}, output.shape={tuple(ops.shape(y_pred))}"
        )
    valid = None
    if ignore_class is not None:
        valid = ops.not_equal(y_true, float(ignore_class))
        y_true = ops.where(valid, y_true, 0.0)
        # Keras zeroes ignored rows; a constant row gives the same (masked) result without 0/0 when the
        # outputs are probabilities, so no nan can leak into the gradient.
        y_pred = ops.where(ops.expand_dims(valid, -1), y_pred, 1.0)
    # Labels arrive as float32; truncating them as Keras's int32 cast does keeps 2.9 -> class 2.
    target = ops.one_hot(ops.cast(y_true, "int32"), int(ops.shape(y_pred)[-1]))
    loss = -_sum(target * _log_probabilities(y_pred, from_logits, -1), axis=-1)
    if valid is not None:
        loss = ops.where(valid, loss, 0.0)
    return loss, valid


def sparse_categorical_crossentropy(
    y_true, y_pred, from_logits: bool = False, ignore_class=None, axis: int = -1
):
    """Categorical cross-entropy with integer class labels.

    Args:
        y_true: Class indices, shaped like `y_pred` without its last axis (or with a last axis of size 1).
        y_pred: Probabilities (renormalized, then clipped) or, with `from_logits`, logits.
        from_logits: Whether `y_pred` holds logits.
        ignore_class: A label whose samples get a loss of 0 (and, in `SparseCategoricalCrossentropy`,
            do not count towards the average).
        axis: The class axis; only the last one is supported.

    Raises:
        ValueError: If the shapes disagree.
    """
    return sparse_categorical_crossentropy_with_mask(y_true, y_pred, from_logits, ignore_class, axis)[0]


def kl_divergence(y_true, y_pred):
    """`sum(y_true * log(y_true / y_pred), axis=-1)`, both clipped to [epsilon, 1]."""
    eps = config.epsilon()
    y_true = ops.clip(as_float_tensor(y_true), eps, 1.0)
    y_pred = ops.clip(as_float_tensor(y_pred), eps, 1.0)
    return _sum(y_true * ops.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """`mean(y_pred - y_true * log(y_pred + epsilon), axis=-1)`."""
    y_true, y_pred = as_float_tensor(y_true), as_float_tensor(y_pred)
    return _mean(y_pred - y_true * ops.log(y_pred + config.epsilon()), axis=-1)


# --- hinge --------------------------------------------------------------------------------------
def _hinge_labels(y_true):
    """Labels in {0, 1} become {-1, 1}; other label sets stay as they are (decided over the whole batch)."""
    is_label = ops.equal(y_true, 0.0) + ops.equal(y_true, 1.0)
    all_binary = ops.min(is_label) if ops.ndim(y_true) else is_label
    return ops.where(all_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """`mean(max(1 - y_true * y_pred, 0), axis=-1)` with labels in {-1, 1} (or {0, 1}, converted)."""
    y_pred = as_float_tensor(y_pred)
    y_true = _hinge_labels(as_float_tensor(y_true))
    return _mean(ops.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """`mean(square(max(1 - y_true * y_pred, 0)), axis=-1)` with labels in {-1, 1} (or {0, 1})."""
    y_pred = as_float_tensor(y_pred)
    y_true = _hinge_labels(as_float_tensor(y_true))
    return _mean(ops.square(ops.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """`max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)` over the last axis."""
    y_true, y_pred = as_float_tensor(y_true), as_float_tensor(y_pred)
    positive = _sum(y_true * y_pred, axis=-1)
    negative = _max((1.0 - y_true) * y_pred, axis=-1)
    return ops.maximum(negative - positive + 1.0, 0.0)


# Short names that Keras 2 exported and Keras 3 still resolves by string.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence

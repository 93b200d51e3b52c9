"""Confusion-matrix metrics: counts at thresholds, Precision, Recall, and the X-at-Y family.

Every prediction is compared with every threshold by broadcasting (predictions gain a trailing threshold
axis), and the weighted counts are summed over the samples, so the update is a few fused loops. When the
thresholds are evenly spaced on [0, 1], Keras assigns predictions to buckets `ceil(p * (T - 1)) - 1` rather
than comparing with each threshold; the bucket rule is kept here because it decides the boundary cases.
"""

from __future__ import annotations

import numpy as np

from kgraph import config, ops
from kgraph.losses.loss import as_float_tensor, squeeze_or_expand_to_same_rank
from kgraph.metrics.metric import Metric, as_result, divide_no_nan

NEG_INF = -1e10
_LOWEST = float(np.finfo(np.float32).min)
COUNTS = ("true_positives", "false_positives", "true_negatives", "false_negatives")


def parse_thresholds(thresholds, default: float) -> list[float]:
    if thresholds is None:
        return [default]
    thresholds = list(thresholds) if isinstance(thresholds, list | tuple) else [thresholds]
    invalid = [t for t in thresholds if t is None or t < 0 or t > 1]
    if invalid:
        raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
    return thresholds


def evenly_distributed(thresholds) -> bool:
    """Whether the thresholds are `i / (T - 1)` for `i` in `0..T-1` (to within epsilon), with T >= 3."""
    count = len(thresholds)
    if count < 3:
        return False
    even = np.arange(count, dtype=np.float32) / (count - 1)
    return bool(np.allclose(thresholds, even, atol=config.epsilon()))


def _top_k_mask(x, k: int):
    """1 for the `k` largest entries along the last axis (the lower index first among ties), else 0.

    Picks the maximum `k` times (argmax takes the first of equal values, as `lax.top_k` does): a pairwise
    comparison would need rank-3 loops that the CPU backend cannot fuse. Picked entries drop to the lowest
    float32, so predictions of -inf may be passed over.
    """
    columns = int(ops.shape(x)[-1])
    keep = ops.zeros_like(x)
    remaining = x
    for _ in range(min(k, columns)):
        chosen = ops.one_hot(ops.argmax(remaining, axis=-1), columns)
        keep = keep + chosen
        remaining = ops.where(chosen, _LOWEST, remaining)
    return keep


def _column(x, index: int):
    """`x[..., index, None]`, as a masked sum (ops has no slicing)."""
    pick = (np.arange(ops.shape(x)[-1]) == index).astype(np.float32)
    return ops.sum(ops.where(pick, x, 0.0), axis=-1, keepdims=True)


def confusion_counts(
    y_true,
    y_pred,
    thresholds,
    *,
    wanted=COUNTS,
    top_k=None,
    class_id=None,
    sample_weight=None,
    multi_label=False,
    label_weights=None,
    evenly=False,
) -> dict:
    """Weighted confusion counts of one batch at each threshold, by name (as Keras counts them).

    Returns tensors shaped `(T,)`, or `(T, labels)` with `multi_label`.
    """
    y_true, y_pred = as_float_tensor(y_true), as_float_tensor(y_pred)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = ops.expand_dims(as_float_tensor(sample_weight), -1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        # Keras writes y_pred * keep + NEG_INF * (1 - keep); `where` gives the same values and cannot lose
        # y_pred to cancellation when the compiler reassociates the sum.
        y_pred = ops.where(_top_k_mask(y_pred, top_k), y_pred, NEG_INF)
    if class_id is not None:
        if ops.ndim(y_pred) == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape (num_samples, "
                f"num_classes), found shape: {ops.shape(y_pred)}"
            )
        y_true, y_pred = _column(y_true, class_id), _column(y_pred, class_id)
    weights = None
    if sample_weight is not None:
        weights = ops.broadcast_to(sample_weight, ops.shape(y_pred))
    if label_weights is not None:
        weights = label_weights if weights is None else weights * label_weights
    count = len(thresholds)
    # One threshold needs no threshold axis; leaving it out also avoids a CPU-backend failure on a (N, C, 1)
    # tensor summed over (N, C) downstream of a row reduction such as softmax.
    by_threshold = count > 1 or multi_label

    def with_threshold_axis(x):
        return ops.expand_dims(x, -1) if by_threshold else x

    if evenly:
        # Bucket b holds predictions in (b / (T-1), (b+1) / (T-1)]; a prediction passes thresholds 0..b.
        bucket = ops.ceil(ops.clip(y_pred, 0.0, 1.0) * float(count - 1)) - 1.0
        if thresholds[0] < 0.0 or thresholds[-1] > 1.0:
            bucket = ops.relu(bucket)  # epsilon margins: every prediction passes the first threshold
        passes = ops.greater_equal(with_threshold_axis(bucket), np.arange(count, dtype=np.float32))
    else:
        passes = ops.greater(with_threshold_axis(y_pred), np.asarray(thresholds, np.float32))
    positive = with_threshold_axis(ops.not_equal(y_true, 0.0))
    conditions = {
        "true_positives": positive * passes,
        "false_positives": (1.0 - positive) * passes,
        "true_negatives": (1.0 - positive) * (1.0 - passes),
        "false_negatives": positive * (1.0 - passes),
    }
    counts = {}
    for name in wanted:
        hits = conditions[name]
        if weights is not None:
            hits = hits * with_threshold_axis(weights)
        if multi_label:
            # Flattened first: the CPU backend reduces rank-3 loops over all leading axes only.
            labels = ops.shape(hits)[1]
            total = ops.sum(ops.reshape(hits, (ops.shape(hits)[0], labels * count)), axis=0)
            counts[name] = ops.transpose(ops.reshape(total, (labels, count)))
        elif by_threshold:
            counts[name] = ops.sum(hits, axis=tuple(range(ops.ndim(hits) - 1)))
        else:
            counts[name] = ops.reshape(ops.sum(hits), (1,))
    return counts


class _ConfusionMetric(Metric):
    """Holds one `(T,)` count variable per wanted condition and accumulates them."""

    _counts: tuple[str, ...] = COUNTS

    def _create_counts(self, thresholds, evenly: bool, shape=None) -> None:
        self.thresholds = thresholds
        self._thresholds_distributed_evenly = evenly
        for name in self._counts:
            setattr(self, name, self.add_variable(shape or (len(thresholds),), name=name))

    def _update_counts(self, y_true, y_pred, sample_weight=None, **options) -> None:
        counts = confusion_counts(
            y_true,
            y_pred,
            self.thresholds,
            wanted=self._counts,
            sample_weight=sample_weight,
            evenly=self._thresholds_distributed_evenly,
            **options,
        )
        for name, value in counts.items():
            getattr(self, name).assign_add(value)

    def _value(self, name: str) -> np.ndarray:
        return getattr(self, name).value


class _ConditionCount(_ConfusionMetric):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        thresholds = parse_thresholds(thresholds, 0.5)
        self._create_counts(thresholds, evenly_distributed(thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update_counts(y_true, y_pred, sample_weight)

    def result(self):
        counts = self._value(self._counts[0])
        return as_result(counts[0] if len(self.thresholds) == 1 else counts)

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """The weighted number of true positives (at each of `thresholds`, default 0.5)."""

    _counts = ("true_positives",)


class FalsePositives(_ConditionCount):
    """The weighted number of false positives (at each of `thresholds`, default 0.5)."""

    _counts = ("false_positives",)


class TrueNegatives(_ConditionCount):
    """The weighted number of true negatives (at each of `thresholds`, default 0.5)."""

    _counts = ("true_negatives",)


class FalseNegatives(_ConditionCount):
    """The weighted number of false negatives (at each of `thresholds`, default 0.5)."""

    _counts = ("false_negatives",)


class _PrecisionRecall(_ConfusionMetric):
    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        thresholds = parse_thresholds(thresholds, 0.5 if top_k is None else NEG_INF)
        self._create_counts(thresholds, evenly_distributed(thresholds))

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update_counts(y_true, y_pred, sample_weight, top_k=self.top_k, class_id=self.class_id)

    def result(self):
        tp, other = self._value("true_positives"), self._value(self._counts[1])
        ratio = divide_no_nan(tp, tp + other)
        return as_result(ratio[0] if len(self.thresholds) == 1 else ratio)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_PrecisionRecall):
    """true_positives / (true_positives + false_positives): how many positive predictions are right.

    Args:
        thresholds: A threshold or list of thresholds in [0, 1] above which a prediction is positive
            (default 0.5; with `top_k`, any of the top k). A list gives one precision per threshold.
        top_k: Only the `k` largest predictions of each sample count as positive.
        class_id: Only this class (a column of `y_pred`) is considered.
        name, dtype: See `Metric`.
    """

    _counts = ("true_positives", "false_positives")


class Recall(_PrecisionRecall):
    """true_positives / (true_positives + false_negatives): how many positives are found.

    Takes the same arguments as `Precision`.
    """

    _counts = ("true_positives", "false_negatives")


class _AtConstraint(_ConfusionMetric):
    """Base of the X-at-Y metrics: all four counts at `num_thresholds` evenly spaced thresholds."""

    def __init__(self, value: float, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        if num_thresholds <= 0:
            raise ValueError(
                f"Argument `num_thresholds` must be an integer > 0. Received: num_thresholds={num_thresholds}"
            )
        self.value = value
        self.class_id = class_id
        if num_thresholds == 1:
            self._create_counts([0.5], False)
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._create_counts([0.0, *inner, 1.0], True)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._update_counts(y_true, y_pred, sample_weight, class_id=self.class_id)

    def _rates(self) -> dict[str, np.ndarray]:
        tp, fp, tn, fn = (self._value(name) for name in COUNTS)
        return {
            "sensitivity": divide_no_nan(tp, tp + fn),
            "specificity": divide_no_nan(tn, tn + fp),
            "precision": divide_no_nan(tp, tp + fp),
        }

    def _max_where(self, constrained: str, dependent: str) -> float:
        """The largest `dependent` rate among thresholds where the `constrained` rate reaches `value`."""
        rates = self._rates()
        feasible = rates[constrained] >= np.float32(self.value)
        return as_result(np.max(np.where(feasible, rates[dependent], np.float32(0)), initial=np.float32(0)))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_id": self.class_id}


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) over thresholds where the specificity is at least `specificity`."""

    def __init__(self, specificity: float, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        _check_unit_interval("specificity", specificity)
        self.specificity, self.num_thresholds = specificity, num_thresholds
        super().__init__(specificity, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        return self._max_where("specificity", "sensitivity")

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "specificity": self.specificity,
        }


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity over thresholds where the sensitivity (recall) is at least `sensitivity`."""

    def __init__(self, sensitivity: float, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        _check_unit_interval("sensitivity", sensitivity)
        self.sensitivity, self.num_thresholds = sensitivity, num_thresholds
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        return self._max_where("sensitivity", "specificity")

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "sensitivity": self.sensitivity,
        }


class PrecisionAtRecall(_AtConstraint):
    """The best precision over thresholds where the recall is at least `recall`."""

    def __init__(self, recall: float, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        _check_unit_interval("recall", recall)
        self.recall, self.num_thresholds = recall, num_thresholds
        super().__init__(recall, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        return self._max_where("sensitivity", "precision")

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "recall": self.recall}


class RecallAtPrecision(_AtConstraint):
    """The best recall over thresholds where the precision is at least `precision`."""

    def __init__(self, precision: float, num_thresholds: int = 200, class_id=None, name=None, dtype=None):
        _check_unit_interval("precision", precision)
        self.precision, self.num_thresholds = precision, num_thresholds
        super().__init__(precision, num_thresholds, class_id, name, dtype)

    def result(self) -> float:
        return self._max_where("precision", "sensitivity")

    def get_config(self) -> dict:
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "precision": self.precision}


def _check_unit_interval(argument: str, value: float) -> None:
    if value < 0 or value > 1:
        raise ValueError(f"Argument `{argument}` must be in the range [0, 1]. Received: {argument}={value}")

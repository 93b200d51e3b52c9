"""AUC: the area under the ROC or precision-recall curve, from confusion counts at fixed thresholds.

The counts are accumulated like the other confusion metrics; `result()` integrates them with Keras's
Riemann sums (interpolation, minoring, majoring), and the precision-recall curve with interpolation uses
Davis & Goadrich's formula, which interpolates true positives linearly between thresholds.
"""

from __future__ import annotations

import numpy as np

from kgraph import config, ops
from kgraph.metrics.confusion import COUNTS, _ConfusionMetric, evenly_distributed
from kgraph.metrics.metric import as_result, divide_no_nan

CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
SUMMATION_METHODS = ("interpolation", "majoring", "minoring")


def _curve(curve: str) -> str:
    if str(curve).lower() not in CURVES:
        raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
    return CURVES[str(curve).lower()]


def _summation_method(method: str) -> str:
    if str(method).lower() not in SUMMATION_METHODS:
        raise ValueError(
            f'Invalid AUC summation method value: "{method}". Expected values are '
            '["interpolation", "majoring", "minoring"]'
        )
    return str(method).lower()


class AUC(_ConfusionMetric):
    """Approximates the area under the ROC or PR curve with a Riemann sum over thresholds.

    Args:
        num_thresholds: Number of thresholds (evenly spaced on [0, 1], plus epsilon margins at both ends).
        curve: `'ROC'`, `'PR'` or `'PRGAIN'`.
        summation_method: `'interpolation'` (trapezoids; Davis & Goadrich for PR), `'minoring'` or
            `'majoring'`.
        name, dtype: See `Metric`.
        thresholds: Explicit thresholds in [0, 1] (then `num_thresholds` is their number + 2).
        multi_label: Treat each column of `y_pred` as a separate label and average their AUCs.
        num_labels: Number of labels with `multi_label` (else taken from the first batch).
        label_weights: Weights of the labels in the average (multi-label) or of the entries (otherwise).
        from_logits: Whether `y_pred` holds logits (a sigmoid is applied first).
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label: bool = False,
        num_labels=None,
        label_weights=None,
        from_logits: bool = False,
    ):
        self._direction = "up"
        self.curve = _curve(curve)
        self.summation_method = _summation_method(summation_method)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            self.num_thresholds = len(thresholds) + 2
            inner = sorted(thresholds)
            evenly = evenly_distributed(np.array([0.0, *inner, 1.0]))
        else:
            if num_thresholds <= 1:
                raise ValueError(
                    f"Argument `num_thresholds` must be an integer > 1. Received: num_thresholds="
                    f"{num_thresholds}"
                )
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        super().__init__(name=name, dtype=dtype)
        # Margins below 0 and above 1: every prediction in [0, 1] passes the first threshold, none the last.
        self._auc_thresholds = [0.0 - config.epsilon(), *inner, 1.0 + config.epsilon()]
        self._auc_evenly = evenly
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float32)
        self._from_logits = from_logits
        self._built = False
        if not multi_label and num_labels:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        if not multi_label or num_labels:
            self._build((None, num_labels) if multi_label else None)

    def _build(self, shape) -> None:
        if self.multi_label:
            if len(shape) != 2:
                raise ValueError(
                    f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {len(shape)}. "
                    f"Full shape received for `y_pred`: {shape}"
                )
            self._num_labels = shape[1]
            variable_shape = (self.num_thresholds, self._num_labels)
        else:
            variable_shape = (self.num_thresholds,)
        self._create_counts(self._auc_thresholds, self._auc_evenly, variable_shape)
        self._built = True

    @property
    def thresholds(self) -> list[float]:
        return list(self._auc_thresholds)

    @thresholds.setter
    def thresholds(self, value) -> None:
        self._auc_thresholds = list(value)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if not self._built:
            self._build(ops.shape(y_pred))
        if self._from_logits:
            y_pred = ops.sigmoid(y_pred)
        label_weights = None
        if self.label_weights is not None and not self.multi_label:
            label_weights = self.label_weights
        self._update_counts(
            y_true, y_pred, sample_weight, multi_label=self.multi_label, label_weights=label_weights
        )

    def reset_state(self) -> None:
        if self._built:
            super().reset_state()

    def _average_over_labels(self, by_label: np.ndarray) -> float:
        if not self.multi_label:
            return as_result(np.sum(by_label, dtype=np.float32))
        if self.label_weights is None:
            return as_result(np.mean(by_label, dtype=np.float32))
        return as_result(divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def _interpolate_pr_auc(self) -> float:
        tp, fp, _, fn = (self._value(name) for name in COUNTS)
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        precision_slope = divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - precision_slope * p[1:]
        safe_p_ratio = np.where(
            (p[:-1] > 0) & (p[1:] > 0), divide_no_nan(p[:-1], np.maximum(p[1:], 0)), np.float32(1)
        )
        increments = divide_no_nan(
            precision_slope * (dtp + intercept * np.log(safe_p_ratio)), np.maximum(tp[1:] + fn[1:], 0)
        )
        return self._average_over_labels(np.sum(increments, axis=0, dtype=np.float32))

    def result(self) -> float:
        if not self._built:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = (self._value(name) for name in COUNTS)
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:
            # Precision and recall gains, rescaled by P/N; undefined where there are no true positives.
            scale = divide_no_nan(tp + fn, tn + fp)
            recall_gain = np.where(tp == 0, np.float32(0), 1.0 - scale * divide_no_nan(fn, tp))
            precision_gain = np.where(tp == 0, np.float32(1), 1.0 - scale * divide_no_nan(fp, tp))
            x, y = np.maximum(recall_gain, 0).astype(np.float32), precision_gain.astype(np.float32)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / np.float32(2)
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average_over_labels(np.sum((x[:-1] - x[1:]) * heights, axis=0, dtype=np.float32))

    def get_config(self) -> dict:
        label_weights = None if self.label_weights is None else self.label_weights.tolist()
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": label_weights,
            "from_logits": self._from_logits,
        }
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config

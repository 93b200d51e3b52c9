"""Metrics that average a loss function over all samples seen (regression, probabilistic and hinge losses)."""

from __future__ import annotations

from kgraph import ops
from kgraph.losses import functions as F
from kgraph.losses.loss import as_float_tensor, squeeze_or_expand_to_same_rank
from kgraph.metrics.metric import as_result, divide_no_nan
from kgraph.metrics.reduction import BuiltinMeanMetric, Mean


def cosine_similarity(y_true, y_pred, axis: int = -1):
    """Cosine similarity along `axis`: 1 for parallel vectors (the metric; the loss is its negative)."""
    return -F.cosine_similarity(y_true, y_pred, axis=axis)


class MeanSquaredError(BuiltinMeanMetric):
    """The mean of `mean_squared_error` over all samples."""

    def __init__(self, name: str = "mean_squared_error", dtype=None):
        super().__init__(F.mean_squared_error, name, dtype, "down")


class MeanAbsoluteError(BuiltinMeanMetric):
    """The mean of `mean_absolute_error` over all samples."""

    def __init__(self, name: str = "mean_absolute_error", dtype=None):
        super().__init__(F.mean_absolute_error, name, dtype, "down")


class MeanAbsolutePercentageError(BuiltinMeanMetric):
    """The mean of `mean_absolute_percentage_error` over all samples."""

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype=None):
        super().__init__(F.mean_absolute_percentage_error, name, dtype, "down")


class MeanSquaredLogarithmicError(BuiltinMeanMetric):
    """The mean of `mean_squared_logarithmic_error` over all samples."""

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype=None):
        super().__init__(F.mean_squared_logarithmic_error, name, dtype, "down")


class CosineSimilarity(BuiltinMeanMetric):
    """The mean cosine similarity between labels and predictions along `axis`."""

    _config_keys = ("axis",)

    def __init__(self, name: str = "cosine_similarity", dtype=None, axis: int = -1):
        super().__init__(cosine_similarity, name, dtype, "up", axis=axis)


class LogCoshError(BuiltinMeanMetric):
    """The mean of `log_cosh` over all samples."""

    def __init__(self, name: str = "logcosh", dtype=None):
        super().__init__(F.log_cosh, name, dtype, "down")


class RootMeanSquaredError(Mean):
    """The square root of the (weighted) mean of squared errors over all entries seen."""

    def __init__(self, name: str = "root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = squeeze_or_expand_to_same_rank(as_float_tensor(y_true), as_float_tensor(y_pred))
        self._accumulate(ops.square(y_pred - y_true), sample_weight)

    def result(self) -> float:
        return as_result(divide_no_nan(self.total.value, self.count.value) ** 0.5)


class KLDivergence(BuiltinMeanMetric):
    """The mean of `kl_divergence` over all samples."""

    def __init__(self, name: str = "kl_divergence", dtype=None):
        super().__init__(F.kl_divergence, name, dtype, None)


class Poisson(BuiltinMeanMetric):
    """The mean of `poisson` over all samples."""

    def __init__(self, name: str = "poisson", dtype=None):
        super().__init__(F.poisson, name, dtype, None)


class BinaryCrossentropy(BuiltinMeanMetric):
    """The mean of `binary_crossentropy` over all samples."""

    _config_keys = ("from_logits", "label_smoothing")

    def __init__(
        self,
        name: str = "binary_crossentropy",
        dtype=None,
        from_logits: bool = False,
        label_smoothing: float = 0,
    ):
        super().__init__(
            F.binary_crossentropy,
            name,
            dtype,
            "down",
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )


class CategoricalCrossentropy(BuiltinMeanMetric):
    """The mean of `categorical_crossentropy` over all samples."""

    _config_keys = ("from_logits", "label_smoothing", "axis")

    def __init__(
        self,
        name: str = "categorical_crossentropy",
        dtype=None,
        from_logits: bool = False,
        label_smoothing: float = 0,
        axis: int = -1,
    ):
        super().__init__(
            F.categorical_crossentropy,
            name,
            dtype,
            "down",
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(BuiltinMeanMetric):
    """The mean of `sparse_categorical_crossentropy` over all samples."""

    _config_keys = ("from_logits", "ignore_class", "axis")

    def __init__(
        self,
        name: str = "sparse_categorical_crossentropy",
        dtype=None,
        from_logits: bool = False,
        ignore_class=None,
        axis: int = -1,
    ):
        super().__init__(
            F.sparse_categorical_crossentropy,
            name,
            dtype,
            "down",
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )


class Hinge(BuiltinMeanMetric):
    """The mean of `hinge` over all samples."""

    def __init__(self, name: str = "hinge", dtype=None):
        super().__init__(F.hinge, name, dtype, "down")


class SquaredHinge(BuiltinMeanMetric):
    """The mean of `squared_hinge` over all samples."""

    def __init__(self, name: str = "squared_hinge", dtype=None):
        super().__init__(F.squared_hinge, name, dtype, "down")


class CategoricalHinge(BuiltinMeanMetric):
    """The mean of `categorical_hinge` over all samples."""

    def __init__(self, name: str = "categorical_hinge", dtype=None):
        super().__init__(F.categorical_hinge, name, dtype, "down")

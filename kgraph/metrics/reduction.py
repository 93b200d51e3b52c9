"""Metrics reducing values over batches: `Sum`, `Mean`, and `MeanMetricWrapper` (the mean of a function)."""

from __future__ import annotations

from kgraph import ops
from kgraph.losses import ALL_OBJECTS as LOSS_OBJECTS
from kgraph.losses import deserialize_function, serialize_function
from kgraph.losses.classes import values_and_mask
from kgraph.losses.loss import apply_mask, as_float_tensor, squeeze_or_expand_to_same_rank
from kgraph.metrics.metric import Metric, as_result, divide_no_nan


def reduce_to_samplewise_values(values, sample_weight, reduce_fn, mask=None):
    """Weights `values` and reduces them to one value per sample, as Keras's reduction metrics do.

    Axes beyond the weights' rank are reduced before weighting; the weights are broadcast to the values
    so that their sum counts every weighted entry. A mask (of valid entries) applies only with weights.
    Returns the per-sample values and the weights per sample (None without weights).
    """
    values = as_float_tensor(values)
    if sample_weight is not None:
        sample_weight = apply_mask(as_float_tensor(sample_weight), mask, reduction="sum")
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_rank = ops.ndim(sample_weight)
        if ops.ndim(values) > weight_rank:
            values = reduce_fn(values, axis=tuple(range(weight_rank, ops.ndim(values))))
        sample_weight = ops.broadcast_to(sample_weight, ops.shape(values))
        values = values * sample_weight
        if weight_rank > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_rank)))
    if ops.ndim(values) > 1:
        values = reduce_fn(values, axis=tuple(range(1, ops.ndim(values))))
    return values, sample_weight


class Sum(Metric):
    """The (weighted) sum of all values seen.

    Example:

    >>> m = Sum()
    >>> m.update_state([1, 3, 5, 7])
    >>> m.result()
    16.0
    """

    def __init__(self, name: str = "sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")

    def update_state(self, values, sample_weight=None):
        values, _ = reduce_to_samplewise_values(values, sample_weight, ops.sum)
        self.total.assign_add(ops.sum(values))

    def result(self) -> float:
        return as_result(self.total.value)


class Mean(Metric):
    """The (weighted) mean of all values seen: total / count, where count adds the sample weights.

    Example:

    >>> m = Mean()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> m.result()
    2.0
    """

    def __init__(self, name: str = "mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values, sample_weight=None):
        self._accumulate(values, sample_weight)

    def _accumulate(self, values, sample_weight=None, mask=None):
        values, sample_weight = reduce_to_samplewise_values(values, sample_weight, ops.mean, mask)
        self.total.assign_add(ops.sum(values))
        if sample_weight is not None:
            samples = ops.sum(sample_weight)
        elif ops.ndim(values) >= 1:
            samples = ops.count(values, axis=0)  # the batch size, symbolic while traced
        else:
            samples = 1.0
        self.count.assign_add(samples)

    def result(self) -> float:
        return as_result(divide_no_nan(self.total.value, self.count.value))


def _is_loss(fn) -> bool:
    losses = set(LOSS_OBJECTS.values())
    return fn in losses or type(fn) in losses


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)` over all samples seen.

    Args:
        fn: A function returning one value per sample (a loss or an accuracy function).
        name: The metric's name (default: `'mean_metric_wrapper'`, numbered).
        dtype: Only float32 is supported.
        **kwargs: Passed to `fn` on every update.

    Example:

    >>> m = MeanMetricWrapper(mean_absolute_error, name="mae")
    """

    def __init__(self, fn, name: str | None = None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        if _is_loss(fn):
            self._direction = "down"

    def update_state(self, y_true, y_pred, sample_weight=None):
        values, mask = values_and_mask(self._fn, y_true, y_pred, **self._fn_kwargs)
        self._accumulate(values, sample_weight, mask)

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": serialize_function(self._fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict) -> MeanMetricWrapper:
        from kgraph.metrics import FUNCTIONS

        config = dict(config)
        if "fn" in config:
            config["fn"] = deserialize_function(config["fn"], FUNCTIONS)
        return cls(**config)


class BuiltinMeanMetric(MeanMetricWrapper):
    """A built-in `MeanMetricWrapper` subclass: its config holds its name, dtype and `_config_keys`."""

    _config_keys: tuple[str, ...] = ()

    def __init__(self, fn, name, dtype, direction: str | None, **kwargs):
        super().__init__(fn, name=name, dtype=dtype, **kwargs)
        if direction is not None:
            self._direction = direction
        for key, value in kwargs.items():
            setattr(self, key, value)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "dtype": self.dtype,
            **{key: getattr(self, key) for key in self._config_keys},
        }

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)

"""The `Loss` base class and Keras's reductions of per-sample losses to one number.

A loss is called eagerly on arrays or traced inside the training step; either way `__call__` computes the
per-sample values with `call`, weights them, and reduces them. The batch size that 'sum_over_batch_size'
divides by comes from `ops.count`, so a traced loss divides by the size of the batch it actually runs on.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from kgraph import ops
from kgraph.ir.builder import Sym, current_graph, get_keras_mask, origin

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)

_name_counts: dict[str, int] = {}


def snake_case(name: str) -> str:
    """`'MeanSquaredError'` -> `'mean_squared_error'`, with Keras's rules (`'AUC'` -> `'auc'`)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(class_name: str) -> str:
    """The class name in snake case, numbered from its second use on (`auc`, `auc_1`...), as Keras does.

    Keras shares one counter between losses and metrics (and layers); losses and metrics share this one.
    """
    base = snake_case(class_name)
    count = _name_counts.get(base, 0)
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def check_dtype(dtype, owner: str) -> str:
    if dtype not in (None, "float32", np.float32):
        raise ValueError(f"{owner}: kgraph computes in float32 only, received dtype={dtype!r}.")
    return "float32"


def standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {set(REDUCTIONS)}. "
            f"Received: reduction={reduction}"
        )
    return reduction


def as_float_tensor(x):
    """Symbolic tensors stay symbolic (as float32); anything else becomes a float32 array, as in Keras."""
    if isinstance(x, Sym):
        return x if x.dtype == "float32" else ops.cast(x, "float32")
    return np.asarray(x, dtype=np.float32)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1: bool = True):
    """Aligns ranks that differ by a trailing unit axis, as Keras does before comparing labels and outputs.

    The tensor with the extra axis of size 1 loses it, except that a rank-1 partner gains one instead
    (when `expand_rank_1`).
    """
    rank1, rank2 = ops.ndim(x1), ops.ndim(x2)
    if rank1 == rank2 + 1 and ops.shape(x1)[-1] == 1:
        if rank2 == 1 and expand_rank_1:
            x2 = ops.expand_dims(x2, -1)
        else:
            x1 = ops.squeeze(x1, -1)
    if rank2 == rank1 + 1 and ops.shape(x2)[-1] == 1:
        if rank1 == 1 and expand_rank_1:
            x1 = ops.expand_dims(x1, -1)
        else:
            x2 = ops.squeeze(x2, -1)
    return x1, x2


def divide_no_nan(x, y):
    """`x / y`, and 0 where `y` is 0."""
    if isinstance(y, int | float):
        return x / float(y) if y else x * 0.0
    zero = ops.equal(y, 0.0)
    return ops.where(zero, 0.0, x / ops.where(zero, 1.0, y))


def apply_mask(sample_weight, mask, reduction):
    """Folds a 0/1 mask of valid entries into the sample weights.

    For the averaging reductions the valid entries are scaled by total/valid, so that dividing by the
    number of entries averages over the valid ones only.
    """
    if mask is None:
        return sample_weight
    if reduction in ("mean", "sum_over_batch_size"):
        float_mask = mask * divide_no_nan(ops.count(mask), ops.sum(mask))
    else:
        float_mask = mask
    if sample_weight is None:
        return float_mask
    float_mask, sample_weight = squeeze_or_expand_to_same_rank(float_mask, sample_weight)
    return sample_weight * float_mask


def reduce_values(values, sample_weight=None, reduction="sum_over_batch_size"):
    if reduction in (None, "none") or ops.ndim(values) == 0 or tuple(ops.shape(values)) == (0,):
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return divide_no_nan(total, ops.sum(sample_weight))
    return divide_no_nan(total, ops.count(values))


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Weights per-sample `values` (and masks them), then reduces them as `reduction` says."""
    reduction = standardize_reduction(reduction)
    if sample_weight is not None:
        sample_weight = as_float_tensor(sample_weight)
    sample_weight = apply_mask(sample_weight, mask, reduction)
    if sample_weight is not None:
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        values = values * sample_weight
    return reduce_values(values, sample_weight, reduction)


@functools.cache
def _built_in(loss_class: type) -> bool:
    """Whether a loss class is kgraph's own (its call on a tape is traced once, then skipped)."""
    return loss_class.__module__.startswith("kgraph.")


class Loss:
    """Base class of losses: subclasses implement `call(y_true, y_pred)` returning per-sample losses.

    Args:
        name: The loss's name (default: the class name in snake case).
        reduction: How per-sample losses become one value: `'sum_over_batch_size'` (default), `'sum'`,
            `'mean'`, `'mean_with_sample_weight'` (sum divided by the sum of the sample weights), or
            `'none'`/`None` (no reduction).
        dtype: Only float32 is supported.

    Example:

    >>> class Squares(Loss):
    ...     def call(self, y_true, y_pred):
    ...         return ops.mean(ops.square(y_pred - y_true), axis=-1)
    """

    def __init__(self, name: str | None = None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or auto_name(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = check_dtype(dtype, f"Loss '{self.name}'")

    @property
    def dtype(self) -> str:
        return self._dtype

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Returns the reduced loss (a scalar, or per-sample values for reduction `'none'`)."""
        graph = current_graph()
        if sample_weight is None and getattr(graph, "call_span", None) is not None and _built_in(type(self)):
            return self._call_on_tape(graph, y_true, y_pred)
        with origin(self.name):
            return self._reduced(as_float_tensor(y_true), as_float_tensor(y_pred), sample_weight)

    def _call_on_tape(self, graph, y_true, y_pred):
        """On a gradient tape a built-in loss is traced once per recording, then skipped."""
        y_true, y_pred = self._on_tape(graph, y_true), self._on_tape(graph, y_pred)

        def trace():
            with origin(self.name):
                return self._reduced(y_true, y_pred, None)

        return graph.call_span((self, y_true.id, y_pred.id), trace)

    def _on_tape(self, graph, x) -> Sym:
        """`x` as a float32 tensor of the tape: arrays become feeds, other dtypes are cast."""
        if not isinstance(x, Sym):
            return graph.feed(np.asarray(x, np.float32))
        if x.graph.type(x.id).dtype == "float32":
            return x
        with origin(self.name):
            return ops.cast(x, "float32")

    def _reduced(self, y_true, y_pred, sample_weight):
        values, mask = self._call_with_mask(y_true, y_pred)
        output_mask = get_keras_mask(y_pred)  # a masked sequence output: its masked steps do not count
        if output_mask is not None:
            output_mask = ops.cast(output_mask, "float32")
            mask = output_mask if mask is None else mask * output_mask
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)

    def _call_with_mask(self, y_true, y_pred):
        """Per-sample losses and a 0/1 mask of the entries that count (None: all of them)."""
        return self.call(y_true, y_pred), None

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement `call(y_true, y_pred)`.")

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

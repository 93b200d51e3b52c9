"""Turning what users pass to fit/evaluate/predict into the float32 row-major arrays the programs read."""

from __future__ import annotations

import math

import numpy as np


def flatten_structure(data, names: list[str], what: str) -> list:
    """A single array, a list/tuple, or a dict keyed by input/output names, as a list in `names` order."""
    if data is None:
        return []
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(
                f"Missing data for {what} {missing}. Expected keys: {names}, received keys: {sorted(data)}."
            )
        return [data[n] for n in names]
    if isinstance(data, list | tuple):
        if len(names) == 1 and not _is_array_list(data):
            return [data]
        if len(data) != len(names):
            raise ValueError(f"Expected {len(names)} {what} array(s) for {names}, but received {len(data)}.")
        return list(data)
    return [data]


def _is_array_list(data) -> bool:
    return all(hasattr(d, "shape") or isinstance(d, list | tuple) for d in data) and any(
        hasattr(d, "shape") for d in data
    )


def as_float_array(value, name: str) -> np.ndarray:
    """Validates and converts one array: numeric, no NaN, at least one axis; float32, C-contiguous."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"Invalid dtype for {name}: expected numeric data (float or int), received an array of "
            f"dtype {array.dtype} (for example {array.flat[0]!r})."
        )
    if array.ndim == 0:
        raise ValueError(f"{name} must have a batch axis; received a scalar.")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if np.isnan(array).any():
        rows = np.unique(np.argwhere(np.isnan(array))[:, 0])[:5].tolist()
        raise ValueError(
            f"{name} contains NaN values (rows {rows}...). Clean or impute the data before training."
        )
    return array


def check_cardinality(groups: dict[str, list[np.ndarray]]) -> int:
    sizes = {f"{what}[{i}]": len(a) for what, arrays in groups.items() for i, a in enumerate(arrays)}
    if len(set(sizes.values())) > 1:
        details = ", ".join(f"{k} sizes: {v}" for k, v in sizes.items())
        raise ValueError(
            f"Data cardinality is ambiguous. Make sure all arrays contain the same number of "
            f"samples. {details}"
        )
    return next(iter(sizes.values()), 0)


def rows_2d(array: np.ndarray) -> np.ndarray:
    return array.reshape(len(array), -1)


def split_validation(arrays: list[np.ndarray], fraction: float) -> tuple[list, list]:
    """Keras's validation_split: the last `fraction` of the samples, taken before any shuffling."""
    if not 0 < fraction < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {fraction}")
    total = len(arrays[0])
    split_at = int(math.floor(total * (1.0 - fraction)))
    if split_at == 0 or split_at == total:
        raise ValueError(
            f"Training data contains {total} samples, which is not sufficient to split it into a "
            f"validation and training set as specified by `validation_split={fraction}`."
        )
    return [a[:split_at] for a in arrays], [a[split_at:] for a in arrays]


def class_weights_for(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """Per-sample weights from `class_weight` and the labels (class indices, or one-hot rows)."""
    labels = (
        np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else np.rint(y.reshape(len(y))).astype(int)
    )
    weights = np.ones(len(y), np.float32)
    for cls, w in class_weight.items():
        weights[labels == int(cls)] = w
    return weights


def sample_weights(sample_weight, class_weight, ys: list[np.ndarray], total: int) -> list[np.ndarray]:
    """One (total, 1) weight column per output, or none at all when no weighting was asked for (then losses
    and metrics are unweighted, as in Keras, which matters for outputs with more than one axis)."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError("You cannot pass both `sample_weight` and `class_weight` at the same time.")
    if sample_weight is None and class_weight is None:
        return []
    columns = []
    for y in ys:
        if class_weight is not None:
            w = class_weights_for(y, class_weight)
        elif sample_weight is not None:
            w = as_float_array(sample_weight, "sample_weight").reshape(-1)
            if len(w) != total:
                raise ValueError(f"sample_weight has {len(w)} entries but the data has {total} samples.")
        else:
            w = np.ones(total, np.float32)
        columns.append(np.ascontiguousarray(w.reshape(total, 1), dtype=np.float32))
    return columns


def num_batches(total: int, batch_size: int) -> int:
    return max(1, -(-total // batch_size))

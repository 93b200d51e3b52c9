"""Utilities of `keras.utils`: one-hot encoding, normalization, padding, seeding, progress bar."""

from __future__ import annotations

import random as _python_random
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgraph import random as _kg_random
from kgraph.saving.object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from kgraph.utils.progbar import Progbar

__all__ = [
    "CustomObjectScope",
    "Progbar",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "normalize",
    "pad_sequences",
    "register_keras_serializable",
    "serialize_keras_object",
    "set_random_seed",
    "to_categorical",
]


def __getattr__(name: str):
    # Serialization knows every class of the package: imported on first use, so that low-level modules can
    # use `kgraph.utils` without importing all of the saving package.
    if name in ("serialize_keras_object", "deserialize_keras_object"):
        from kgraph import saving

        return getattr(saving, name)
    raise AttributeError(f"module 'kgraph.utils' has no attribute {name!r}")


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """Converts a class vector (integers) to a one-hot matrix.

    A trailing axis of size 1 is dropped first, so labels of shape `(n, 1)` give
    `(n, num_classes)`. As in Keras, the result is float64.

    Args:
        x: Array-like of class indices in `[0, num_classes)`.
        num_classes: Number of classes; `max(x) + 1` when omitted.

    Returns:
        A float array of shape `x.shape + (num_classes,)` (after the squeeze).

    Example:

    >>> to_categorical([0, 2, 1], 3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    labels = np.asarray(x, dtype="int64")
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if not num_classes:
        num_classes = int(np.max(labels)) + 1
    one_hot = np.zeros((labels.shape[0], num_classes))
    one_hot[np.arange(labels.shape[0]), labels] = 1
    return one_hot.reshape(shape + (num_classes,))


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scales `x` to unit norm along `axis`; zero vectors stay zero.

    Args:
        x: Array to normalize.
        axis: Axis along which to normalize.
        order: Order of the norm (2 for L2), as `np.linalg.norm`'s `ord`.

    Returns:
        The normalized array. As in Keras, a 1D input comes back with shape `(1, n)`.
    """
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    if x.ndim == 1:
        # Keras's quirk: the scalar norm of a vector broadcasts it to a row.
        return x / norm[:, None]
    return x / np.expand_dims(norm, axis)


def set_random_seed(seed: int) -> None:
    """Seeds Python's `random`, NumPy's global generator and kgraph's own generator.

    After this call, unseeded initializers, dropout and shuffling repeat exactly.

    Args:
        seed: Integer seed.

    Raises:
        ValueError: If `seed` is not an integer.
    """
    if not isinstance(seed, int):
        raise ValueError(
            f"Expected `seed` argument to be an integer. Received: seed={seed} (of type {type(seed)})"
        )
    _python_random.seed(seed)
    np.random.seed(seed)
    _kg_random.set_global_seed(seed)


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pads (or truncates) sequences to one length.

    Args:
        sequences: List of sequences (each a list or array; items may be arrays).
        maxlen: Length of the output; the longest sequence when omitted.
        dtype: Output dtype (use `object` for variable-length strings).
        padding: `'pre'` or `'post'`: pad before or after each sequence.
        truncating: `'pre'` or `'post'`: drop values from the start or the end of
            sequences longer than `maxlen`.
        value: Padding value.

    Returns:
        Array of shape `(len(sequences), maxlen) + item_shape`.

    Raises:
        ValueError: For non-iterable items, inconsistent item shapes, or unknown
            `padding`/`truncating`.

    Example:

    >>> pad_sequences([[1], [2, 3]], maxlen=3)
    array([[0, 0, 1],
           [0, 2, 3]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    lengths = []
    item_shape: tuple[int, ...] | None = None
    for seq in sequences:
        try:
            lengths.append(len(seq))
        except TypeError as e:
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {seq}") from e
        if item_shape is None and len(seq):
            item_shape = np.asarray(seq).shape[1:]
    item_shape = item_shape or ()
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    is_text_dtype = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_text_dtype:
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
            "You should set `dtype=object` for variable length strings."
        )
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')

    out = np.full((len(sequences), maxlen) + item_shape, value, dtype=dtype)
    for i, seq in enumerate(sequences):
        if not len(seq) or maxlen == 0:
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != item_shape:
            raise ValueError(
                f"Shape of sample {kept.shape[1:]} of sequence at position {i} "
                f"is different from expected shape {item_shape}"
            )
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out

"""Checks of layer arguments, with Keras's error messages."""

from __future__ import annotations

import numbers

from kgraph import config


def standardize_tuple(value, n: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """`value` (an int, or `n` ints) as a tuple of `n` positive ints (non-negative with `allow_zero`).

    Raises:
        ValueError: naming the argument and what was received, when `value` is not of that form.
    """
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, numbers.Integral):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n or not all(isinstance(v, numbers.Integral) for v in values):
            raise ValueError(message)
        values = tuple(int(v) for v in values)
    lowest = 0 if allow_zero else 1
    if any(v < lowest for v in values):
        raise ValueError(
            f"{message}, including values {[v for v in values if v < lowest]} that do not "
            f"satisfy `value {'>= 0' if allow_zero else '> 0'}`"
        )
    return values


def standardize_data_format(data_format) -> str:
    """`data_format` lowercased and checked, or the configured image data format when it is None."""
    if data_format is None:
        return config.image_data_format()
    data_format = str(data_format).lower()
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError(
            "The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    return data_format

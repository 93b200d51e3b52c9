"""`kgraph.backend`: session-level helpers in Keras's names."""

from __future__ import annotations

from kgraph import config
from kgraph.layers.layer import reset_names


def clear_session(free_memory: bool = True) -> None:
    """Resets layer-name counters, as Keras's clear_session does."""
    reset_names()


def backend() -> str:
    return config.backend()


def floatx() -> str:
    return config.floatx()


def epsilon() -> float:
    return config.epsilon()


def image_data_format() -> str:
    return config.image_data_format()

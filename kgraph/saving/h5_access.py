"""Guarded access to HDF5 files written by anyone: no links out of the file, no external or virtual data,
and no dataset read before its shape and dtype are known to be the ones expected.

A hostile file can declare a huge dataset that stores almost nothing, or point at other files; checking the
declared shape against the variable it should fill, before reading, bounds every read by the model's size.
"""

from __future__ import annotations

import numpy as np


def h5py_module():
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - h5py is a dev dependency
        raise ImportError("Saving and loading models requires h5py: `pip install h5py`.") from error
    return h5py


class FileFormatError(ValueError):
    """A file that cannot be loaded: the message names the file, the part and what is wrong."""


def child(parent, name: str, source: str, kind: str = "group"):
    """The group (or dataset) `name` under `parent`, refusing soft and external links."""
    h5py = h5py_module()
    link = parent.get(name, getlink=True)
    if link is None:
        raise KeyError(name)
    if isinstance(link, h5py.SoftLink | h5py.ExternalLink):
        raise FileFormatError(
            f"{source}: '{parent.name}/{name}' is a {type(link).__name__}, which is not allowed."
        )
    item = parent[name]
    expected = h5py.Group if kind == "group" else h5py.Dataset
    if not isinstance(item, expected):
        raise FileFormatError(f"{source}: '{item.name}' should be a {kind}, found {type(item).__name__}.")
    return item


def read_dataset(
    dataset, expected_shape: tuple, source: str, what: str, integer_ok: bool = False
) -> np.ndarray:
    """Reads a dataset after checking it is local, of the expected shape and of a numeric dtype.

    Raises:
        FileFormatError: naming `source` and `what` for any mismatch.
    """
    if dataset.external:
        raise FileFormatError(f"{source}: {what} is stored in an external file, which is not allowed.")
    if dataset.is_virtual:
        raise FileFormatError(f"{source}: {what} is a virtual dataset, which is not allowed.")
    if tuple(dataset.shape) != tuple(expected_shape):
        raise Mismatch(
            f"{source}: {what} has shape {tuple(dataset.shape)} in the file, but the model expects "
            f"{tuple(expected_shape)}."
        )
    kind = dataset.dtype.kind
    if kind != "f" and not (integer_ok and kind in "iu"):
        raise FileFormatError(
            f"{source}: {what} has dtype {dataset.dtype} in the file, expected a float dtype."
        )
    return np.asarray(dataset[()])


class Mismatch(FileFormatError):
    """Saved state that does not fit the model: a missing group, a wrong count or a wrong shape
    (skippable with `skip_mismatch`)."""


def string_list_attr(node, name: str) -> list[str]:
    """A list-of-strings attribute, also in the chunked form (`name0`, `name1`...) legacy files use."""
    if name in node.attrs:
        values = list(node.attrs[name])
    else:
        values, index = [], 0
        while f"{name}{index}" in node.attrs:
            values.extend(node.attrs[f"{name}{index}"])
            index += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]

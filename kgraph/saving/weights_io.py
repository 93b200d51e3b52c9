"""Writing and reading the `vars` groups of a Keras 3 weights file (see `weights_layout`).

Reading checks every dataset against the variable it fills before anything is assigned, so a file that does
not fit leaves the model as it was (unless `skip_mismatch` lets the fitting parts through).
"""

from __future__ import annotations

import warnings

import numpy as np

from kgraph.saving.h5_access import FileFormatError, Mismatch, child, h5py_module, read_dataset
from kgraph.saving.weights_layout import StateEntry


def write_entries(h5file, entries: list[StateEntry]) -> None:
    """Writes each entry's values as datasets `0`, `1`... of `<path>/vars`."""
    for entry in entries:
        parent = h5file.require_group(entry.path) if entry.path else h5file
        group = parent.create_group("vars")
        group.attrs["name"] = entry.owner
        values = [v.numpy() for v in entry.variables]
        for index, value in enumerate(values):
            if index in entry.integer:
                value = np.asarray(np.rint(value), np.int64)
            group.create_dataset(str(index), data=value)


def read_entries(h5file, entries: list[StateEntry], source: str, skip_mismatch: bool = False) -> None:
    """Fills every entry's variables from the file.

    Raises:
        FileFormatError: naming the file, the layer and the problem, when a group is missing or holds the
            wrong number of arrays or an array of the wrong shape or dtype (with `skip_mismatch=True`
            mismatched layers are skipped with a warning instead).
    """
    assignments: list[tuple] = []
    problems: list[str] = []
    for entry in entries:
        try:
            values = _read_entry(h5file, entry, source)
        except Mismatch as error:
            if entry.kind == "optimizer":
                # Keras's rule: an optimizer whose state does not fit starts afresh, with a warning.
                warnings.warn(f"{error} The optimizer starts from a fresh state.", stacklevel=3)
            else:
                problems.append(str(error))
            continue
        if values is not None:
            assignments.append((entry, values))
    if problems:
        message = f"{len(problems)} object(s) could not be loaded from {source}:\n" + "\n".join(problems)
        if not skip_mismatch:
            raise FileFormatError(message)
        warnings.warn(f"Skipping loading weights: {message}", stacklevel=3)
    for entry, values in assignments:
        for variable, value in zip(entry.variables, values, strict=False):
            variable.assign(np.asarray(value, np.float32))


def _read_entry(h5file, entry: StateEntry, source: str) -> list[np.ndarray] | None:
    group = _vars_group(h5file, entry.path, source)
    label = _label(entry)
    if group is None:
        if entry.size == 0:
            return None
        raise Mismatch(f"{source}: no weights were found for {label} (expected a group '{entry.path}/vars').")
    keys = set(group.keys())
    size = entry.size
    if entry.leading is not None and keys == {str(i) for i in range(entry.leading)}:
        size = entry.leading  # e.g. an optimizer saved before training: iterations and learning rate only
    if keys != {str(i) for i in range(size)}:
        raise Mismatch(
            f"{source}: {label} expects {entry.size} variables, but the file holds "
            f"{len(keys)} variables ({sorted(keys)}) in '{group.name}'."
        )
    expected = [v.shape for v in entry.variables][:size]
    values = []
    for index, shape in enumerate(expected):
        what = f"variable {index} of {label} ('{entry.variables[index].path}')"
        dataset = child(group, str(index), source, kind="dataset")
        values.append(read_dataset(dataset, shape, source, what, integer_ok=index in entry.integer))
    return values


def _label(entry: StateEntry) -> str:
    if entry.kind == "optimizer":
        return f"the optimizer '{entry.owner}'"
    if entry.kind == "model":
        return f"the model '{entry.owner}'"
    return f"layer '{entry.owner}'"


def _vars_group(h5file, path: str, source: str):
    node = h5file
    for part in [p for p in path.split("/") if p] + ["vars"]:
        try:
            node = child(node, part, source)
        except KeyError:
            return None
    return node


def open_h5(path_or_file, mode: str, source: str):
    """`h5py.File`, turning "not an HDF5 file" and truncation errors into a `FileFormatError`."""
    h5py = h5py_module()
    try:
        return h5py.File(path_or_file, mode)
    except OSError as error:
        if mode != "r":
            raise
        raise FileFormatError(
            f"{source} is not a readable HDF5 file (corrupt or truncated?): {error}"
        ) from error

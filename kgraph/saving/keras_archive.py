"""The native `.keras` file: a zip of `metadata.json`, `config.json` and `model.weights.h5`, as in Keras 3.

Members are stored uncompressed, as Keras stores them. Reading treats the archive as untrusted: member names
must be plain, every member's declared size is capped (the config at 64 MiB, the weights at twice what the
model's variables need plus a margin) before anything is read, and reads stop at the cap whatever the header
claims, so a zip bomb cannot exhaust memory.
"""

from __future__ import annotations

import datetime
import io
import json
import posixpath
import stat
import zipfile

from kgraph.saving.atomic import atomic_path
from kgraph.saving.h5_access import FileFormatError, h5py_module
from kgraph.saving.weights_io import open_h5, read_entries, write_entries
from kgraph.saving.weights_layout import model_entries

CONFIG_FILENAME = "config.json"
METADATA_FILENAME = "metadata.json"
WEIGHTS_FILENAME = "model.weights.h5"
#: The Keras release whose file layout kgraph writes (read by Keras as the saving version).
KERAS_FORMAT_VERSION = "3.15.1"

MAX_CONFIG_BYTES = 64 << 20
MAX_METADATA_BYTES = 1 << 20
_WEIGHTS_MARGIN_BYTES = 16 << 20  # HDF5 headers and attributes on top of the raw arrays
_MAX_COMPRESSION_RATIO = 100


def save_keras_archive(model, filepath: str) -> None:
    """Writes `model` (config, compile config, weights and optimizer state) to a `.keras` file atomically."""
    from kgraph import __version__
    from kgraph.saving.serialization import serialize_keras_object

    config_json = json.dumps(serialize_keras_object(model))
    metadata_json = json.dumps(
        {
            "keras_version": KERAS_FORMAT_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "kgraph_version": __version__,
        }
    )
    weights = io.BytesIO()
    with h5py_module().File(weights, "w") as h5file:
        write_entries(h5file, model_entries(model))
    with atomic_path(filepath) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr(METADATA_FILENAME, metadata_json)
        archive.writestr(CONFIG_FILENAME, config_json)
        archive.writestr(WEIGHTS_FILENAME, weights.getvalue())


def open_archive(filepath: str) -> zipfile.ZipFile:
    """Opens a `.keras` file for reading after checking its member list."""
    source = f"'{filepath}'"
    try:
        archive = zipfile.ZipFile(filepath, "r")
    except (zipfile.BadZipFile, EOFError) as error:
        raise FileFormatError(
            f"{source} is not a valid .keras file: it is not a zip archive, or it is truncated ({error})."
        ) from error
    try:
        _check_members(archive, source)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_members(archive: zipfile.ZipFile, source: str) -> None:
    names = set()
    for info in archive.infolist():
        name = info.filename
        normalized = posixpath.normpath(name)
        if (
            name.startswith(("/", "\\"))
            or "\\" in name
            or normalized.startswith("..")
            or (len(name) > 1 and name[1] == ":")
        ):
            raise FileFormatError(
                f"{source}: the archive member path '{name}' escapes the archive; refusing it."
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise FileFormatError(f"{source}: the archive member '{name}' is a symbolic link; refusing it.")
        if name in names:
            raise FileFormatError(f"{source}: the archive holds the member '{name}' twice.")
        names.add(name)
        if info.file_size > (1 << 20) and info.file_size > _MAX_COMPRESSION_RATIO * max(
            info.compress_size, 1
        ):
            raise FileFormatError(
                f"{source}: the archive member '{name}' expands {info.file_size / info.compress_size:.0f}x "
                "(a zip bomb?); refusing to read it."
            )


def read_member(archive: zipfile.ZipFile, name: str, limit: int, source: str) -> bytes:
    """A member's bytes, refusing any member larger than `limit` (declared or actual)."""
    try:
        info = archive.getinfo(name)
    except KeyError as error:
        raise FileFormatError(f"{source}: the archive has no '{name}'.") from error
    if info.file_size > limit:
        raise FileFormatError(
            f"{source}: '{name}' declares {info.file_size} bytes, more than the {limit} bytes allowed for it "
            "(a zip bomb?); refusing to read it."
        )
    chunks, total = [], 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(1 << 20):
                total += len(chunk)
                if total > limit:
                    raise FileFormatError(
                        f"{source}: '{name}' holds more than the {limit} bytes allowed for it; "
                        "refusing to read it."
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise FileFormatError(f"{source}: '{name}' is corrupt or truncated ({error}).") from error
    return b"".join(chunks)


def read_config(archive: zipfile.ZipFile, source: str) -> dict:
    raw = read_member(archive, CONFIG_FILENAME, MAX_CONFIG_BYTES, source)
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FileFormatError(f"{source}: config.json is not valid JSON ({error}).") from error
    if not isinstance(config, dict) or "class_name" not in config:
        raise FileFormatError(f"{source}: config.json does not describe a model (no 'class_name').")
    return config


def load_weights_from_archive(
    model, archive: zipfile.ZipFile, source: str, skip_mismatch: bool = False
) -> None:
    """Fills `model`'s variables (and its optimizer's, if compiled) from the archive's weights member."""
    entries = model_entries(model)
    limit = 2 * sum(entry.nbytes for entry in entries) + _WEIGHTS_MARGIN_BYTES
    raw = read_member(archive, WEIGHTS_FILENAME, limit, source)
    with open_h5(io.BytesIO(raw), "r", source) as h5file:
        read_entries(h5file, entries, source, skip_mismatch)


def load_keras_archive(filepath: str, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuilds a model from a `.keras` file: config, then weights and (if `compile`) optimizer state."""
    from kgraph.saving.serialization import deserialize_keras_object

    source = f"'{filepath}'"
    with open_archive(filepath) as archive:
        config = read_config(archive, source)
        if not compile:
            config["compile_config"] = None
        try:
            model = deserialize_keras_object(config, custom_objects, safe_mode=safe_mode)
        except (TypeError, ValueError) as error:
            raise type(error)(f"Could not rebuild the model saved in {source}: {error}") from error
        load_weights_from_archive(model, archive, source)
    return model

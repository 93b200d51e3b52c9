"""Atomic file writes: write a temporary file beside the target, then rename it into place.

`os.replace` within one folder is atomic on POSIX and Windows, so a reader (or a crash at any moment) sees
either the previous file or the complete new one, never a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temporary path in `path`'s folder; on success it replaces `path`, on error it is removed.

    Example:

    >>> with atomic_path("model.weights.h5") as tmp:
    ...     write_file(tmp)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(handle)
    os.chmod(tmp, _file_mode(path))
    try:
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _file_mode(path: str) -> int:
    """The mode the file would get from a plain `open(path, "w")`: the old file's, or 0o666 less the umask."""
    if os.path.exists(path):
        return os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def ask_to_proceed_with_overwrite(path: str) -> bool:
    """Asks on the terminal whether to overwrite `path` (Keras's prompt for `overwrite=False`)."""
    answer = input(f"[WARNING] {path} already exists - overwrite? [y/n]").strip().lower()
    while answer not in ("y", "n"):
        answer = input('Enter "y" (overwrite) or "n" (cancel).').strip().lower()
    return answer == "y"

"""Replace a file atomically: readers see the old bytes or the new, never a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".foreman-tmp"


def temp_files(path: Path) -> list[Path]:
    """Temporary files a writer of `path` left behind (only a killed writer leaves any)."""
    return sorted(path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"))


def replace_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, fsync it, rename it over `path`.

    Call with the directory lock held: any temp file found then belongs to a writer that was
    killed mid-write, and is removed.
    """
    for leftover in temp_files(path):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    # The rename is durable only once the directory entry is on disk.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

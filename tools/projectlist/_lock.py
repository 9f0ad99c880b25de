"""An inter-process lock serialising writers of the project lists in one directory."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tools.projectlist._errors import ProjectListError

LOCK_TIMEOUT_SECONDS = 30.0


@contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold an exclusive flock on the file's directory while editing the file.

    Locking the directory rather than a sidecar `.lock` file leaves nothing behind in the
    user's repository (no untracked file for `git status` to show); the file itself cannot be
    locked because the atomic rename replaces it with a new inode.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX: reading works, writing needs a lock we cannot take
        raise ProjectListError(path, 0, "editing needs POSIX file locks (fcntl)") from None
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ProjectListError(
                        path, 0, f"another writer held the lock for over {timeout:.0f}s"
                    ) from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock

"""Parse each version of a project list once: reads in a long-running process are a stat.

A version is known by the file's identity, size and mtime (st_dev, st_ino, st_size,
st_mtime_ns): an atomic rename gives a new inode, an in-place write a new mtime. A file
changed twice within one mtime tick and to the same size would fool that key, so a version
read less than RACY_SECONDS after it was modified is confirmed by its content digest until it
is older. The write path never trusts the key: it digests the bytes it read under the lock.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from tools.projectlist._errors import ProjectListError
from tools.projectlist._model import ProjectList
from tools.projectlist._parse import check_strict, parse
from tools.projectlist._text import digest

RACY_SECONDS = 2.0
MAX_FILES = 4  # a process reads one workspace's list, a test suite a few

_Key = tuple[int, int, int, int]


@dataclass
class _Version:
    key: _Key
    plist: ProjectList
    racy: bool


_lock = threading.Lock()
_versions: OrderedDict[str, _Version] = OrderedDict()


def load(path: Path, *, strict: bool = True) -> ProjectList:
    """Read and parse a project-list file, or return the parse of this same version.

    With `strict` (the default) the first error raises ProjectListError; otherwise errors are
    returned in `.issues` with whatever could be read, for `check` to report them all. The
    returned list is shared between callers: treat it as read-only.
    """
    path = Path(path)
    hit = _fresh(path)
    if hit is not None:
        return check_strict(hit, strict)
    try:
        with path.open("rb") as handle:
            key = _key(os.fstat(handle.fileno()))
            raw = handle.read()
    except OSError as exc:
        raise ProjectListError(path, 0, f"cannot read: {exc.strerror or exc}") from None
    plist = parsed(path, raw)
    _remember(path, key, plist)
    return check_strict(plist, strict)


async def load_async(path: Path, *, strict: bool = True) -> ProjectList:
    """`load` for async code: an unchanged file is answered at once, a changed one is parsed
    on a worker thread so the event loop keeps running (a 1,000-project list takes ~0.1 s)."""
    hit = _fresh(Path(path))
    if hit is not None:
        return check_strict(hit, strict)
    return await asyncio.to_thread(load, path, strict=strict)


def parsed(path: Path, raw: bytes) -> ProjectList:
    """The parse of these bytes (not strict), reusing the cached one when the digest matches."""
    with _lock:
        known = _versions.get(str(path))
    if known is not None and known.plist.digest == digest(raw):
        return known.plist
    return parse(raw, path, strict=False)


def remember_written(path: Path, plist: ProjectList) -> None:
    """After writing `plist`'s bytes to `path`, keep its parse for the next reader."""
    try:
        key = _key(os.stat(path))
    except OSError:
        return
    _remember(path, key, plist)


def clear_cache() -> None:
    """Drop every cached version (tests use it to measure a first read)."""
    with _lock:
        _versions.clear()


def _fresh(path: Path) -> ProjectList | None:
    with _lock:
        known = _versions.get(str(path))
    if known is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if _key(stat) != known.key:
        return None
    if known.racy:
        # Modified moments before it was read: confirm the content before trusting the key.
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        if digest(raw) != known.plist.digest:
            return None
        known.racy = _racy(stat.st_mtime_ns)
    with _lock:
        if str(path) in _versions:
            _versions.move_to_end(str(path))
    return known.plist


def _remember(path: Path, key: _Key, plist: ProjectList) -> None:
    with _lock:
        _versions[str(path)] = _Version(key, plist, _racy(key[3]))
        _versions.move_to_end(str(path))
        while len(_versions) > MAX_FILES:
            _versions.popitem(last=False)


def _key(stat: os.stat_result) -> _Key:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _racy(mtime_ns: int) -> bool:
    return time.time_ns() - mtime_ns < RACY_SECONDS * 1e9

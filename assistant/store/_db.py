from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assistant.store.migrations import migrate

DB_NAME = "foreman.db"
# how long a write waits for another process's lock before it is refused as "locked": writes
# take milliseconds, but a loaded machine can pause the writer holding the lock for seconds
BUSY_TIMEOUT_SECONDS = 15.0
# the state holds chat history and the audit log: its owner's alone
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class StateFileError(sqlite3.DatabaseError):
    """The state file cannot be used (replaced, deleted, locked, unwritable); names the file."""


def _make_private(path: Path) -> None:
    """The state directory 0700 and its database files 0600 (a state of an earlier version
    too); a directory that is not only Foreman's (no foreman.db in it yet) is left as it is."""
    directory = path.parent
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if created or path.exists():
        try:
            mode = os.stat(directory).st_mode & 0o777
            if mode & 0o077:
                os.chmod(directory, mode & PRIVATE_DIR)
        except OSError:
            pass  # not ours to change (e.g. another user's): the files still are private
    if not path.exists():
        # created private before SQLite opens it: its -wal and -shm take the same mode
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        try:
            mode = os.stat(directory / name).st_mode & 0o777
            if mode & 0o077:
                # group and others lose access; a file its owner made read-only stays so
                os.chmod(directory / name, mode & PRIVATE_FILE)
        except (FileNotFoundError, PermissionError):
            continue  # gone, or another user's file: reading it is all we do


def default_state_dir(workspace: Path | None = None) -> Path:
    """`$FOREMAN_STATE_DIR`, else the workspace's own folder under the per-user data directory.

    One state per workspace: its approvals, chats and audit log never mix with another's. The
    folder is the workspace's name (readable) plus a hash of its full path (two checkouts
    with the same name stay apart). Without a workspace: the per-user data directory itself.
    """
    configured = os.environ.get("FOREMAN_STATE_DIR")
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_dir

    base = Path(user_data_dir("foreman", appauthor=False))
    if workspace is None:
        return base
    root = Path(workspace).resolve()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", root.name).strip("-.") or "workspace"
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return base / "workspaces" / f"{name}-{digest}"


class Store:
    """A handle on the state database, safe to share between threads of one process.

    Several processes may open the same file: WAL mode plus a busy timeout serialises writers.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        _make_private(path)
        self._local = threading.local()
        self._identity = self._stat()
        with self.transaction() as conn:
            migrate(conn)

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return info.st_dev, info.st_ino

    def check_same_file(self) -> None:
        """Refuse to write when the state file was deleted or replaced under this process:
        SQLite would go on writing to the old, unlinked file and every later approval and
        audit entry would be lost without a word."""
        now = self._stat()
        if now != self._identity:
            what = "deleted" if now is None else "replaced by another file"
            raise StateFileError(
                f"the state file {self.path} was {what} while Foreman was running; nothing "
                "more was written to it: restart Foreman to open the state afresh"
            )

    def _connect(self) -> sqlite3.Connection:
        timeout = busy_timeout()
        conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.OperationalError as exc:
            conn.close()
            raise _explained(self.path, exc) from exc
        return conn

    @property
    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: the write lock is taken up front, so no upgrade deadlocks."""
        conn = self.connection
        if conn.in_transaction:
            yield conn
            return
        self.check_same_file()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _explained(self.path, exc) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self._rollback(conn)
            raise _explained(self.path, exc) from exc
        except BaseException:
            self._rollback(conn)
            raise

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O error)
            conn.execute("ROLLBACK")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def busy_timeout() -> float:
    """`FOREMAN_STATE_WAIT` seconds if set to a positive number, else the default."""
    value = os.environ.get("FOREMAN_STATE_WAIT", "")
    try:
        seconds = float(value) if value else BUSY_TIMEOUT_SECONDS
    except ValueError:
        seconds = BUSY_TIMEOUT_SECONDS
    return seconds if seconds > 0 else BUSY_TIMEOUT_SECONDS


def _explained(path: Path, exc: sqlite3.OperationalError) -> StateFileError:
    """SQLite's message as one line naming the file and what to do."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StateFileError(
            f"the state file {path} is locked by another process (waited "
            f"{busy_timeout():g} s); nothing was changed: try again when it is done"
        )
    if "readonly" in text or "read-only" in text:
        return StateFileError(
            f"the state file {path} cannot be written ({text}); nothing was changed: "
            "make it and its folder writable, or set FOREMAN_STATE_DIR"
        )
    return StateFileError(f"the state file {path} cannot be used ({text}); nothing was changed")


def open_store(state_dir: Path | None = None) -> Store:
    return Store((state_dir or default_state_dir()) / DB_NAME)

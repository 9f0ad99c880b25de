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
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self.transaction() as conn:
            migrate(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def open_store(state_dir: Path | None = None) -> Store:
    return Store((state_dir or default_state_dir()) / DB_NAME)

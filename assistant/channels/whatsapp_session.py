"""What the WhatsApp session file says: linked (to which account), not linked, or logged out.

The file exists before a device is linked and survives a logout (whatsmeow deletes the
device row, not the file), so its existence says nothing. The session store itself is read:
whatsmeow keeps the linked device in `whatsmeow_device`. Foreman notes next to the session
which account it linked, so a store that lost its device afterwards reads as "logged out".
A logout made from the phone while Foreman is not running is only seen at the next connect.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class SessionState(StrEnum):
    LINKED = "linked"
    NOT_LINKED = "not linked"
    LOGGED_OUT = "logged out"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Session:
    path: Path
    state: SessionState
    account: str | None = None  # the linked account's JID (user@s.whatsapp.net)
    problem: str = ""  # why an unreadable session could not be read

    def describe(self) -> str:
        """One line for doctor and logs: the state and what to do about it."""
        if self.state is SessionState.LINKED:
            return f"linked as {self.account} ({self.path})"
        if self.state is SessionState.LOGGED_OUT:
            return (
                f"logged out (the device was unlinked from the phone, or WhatsApp ended it): "
                f"run `foreman whatsapp login` to link again ({self.path})"
            )
        if self.state is SessionState.UNREADABLE:
            return f"cannot read {self.path}: {self.problem}"
        return f"not linked: run `foreman whatsapp login` ({self.path})"


def linked_note(db: Path) -> Path:
    return db.with_name(db.name + ".linked")


def read_session(db: Path) -> Session:
    """The session's state, read without creating or changing anything."""
    if not db.is_file():
        return Session(db, SessionState.NOT_LINKED)
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2.0)
        try:
            rows = connection.execute("SELECT jid FROM whatsmeow_device").fetchall()
        finally:
            connection.close()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            return Session(db, SessionState.UNREADABLE, problem=str(exc))
        rows = []  # created but never opened by whatsmeow
    except sqlite3.DatabaseError as exc:
        return Session(db, SessionState.UNREADABLE, problem=str(exc))
    if rows:
        return Session(db, SessionState.LINKED, account=account_of(str(rows[0][0])))
    note = linked_note(db)
    if note.is_file():
        return Session(db, SessionState.LOGGED_OUT, account=note.read_text().strip() or None)
    return Session(db, SessionState.NOT_LINKED)


def account_of(device_jid: str) -> str:
    """`4917012345:12@s.whatsapp.net` (one device of an account) -> `4917012345@s.whatsapp.net`."""
    user, _, server = device_jid.partition("@")
    return f"{user.partition(':')[0].partition('.')[0]}@{server}"


def note_linked(db: Path, account: str) -> None:
    """Remember that this session was linked, so losing its device later reads as a logout."""
    note = linked_note(db)
    descriptor = os.open(note, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(account + "\n")


def keep_private(db: Path) -> None:
    """The session (identity keys: whoever holds it reads the chats) 0600, its folder 0700.

    A folder Foreman created, or one holding only the session and Foreman's state, is made
    private; a folder with other things in it (a home or project directory) is left as it is
    and `foreman doctor` warns. SQLite gives its journal files the database's mode.
    """
    folder = db.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True)
    with contextlib.suppress(OSError):
        if _only_foreman_in(folder, db) and folder.stat().st_uid == os.getuid():
            folder.chmod(0o700)
    for path in (db, linked_note(db), *(db.with_name(db.name + s) for s in ("-wal", "-shm"))):
        if path.exists():
            path.chmod(0o600)
    if not db.exists():
        # created empty and private before the Go side opens it (an empty file is an empty db)
        os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))


def _only_foreman_in(folder: Path, db: Path) -> bool:
    if folder.resolve() == Path.home().resolve():
        return False
    mine = (db.name, "foreman.db", "archives")
    return all(entry.name.startswith(mine) for entry in folder.iterdir())


def exposure(db: Path) -> str:
    """What makes the session readable by others, or "" when it is private."""
    problems = []
    with contextlib.suppress(OSError):
        if db.stat().st_mode & 0o077:
            problems.append(f"{db} is mode {db.stat().st_mode & 0o777:o}, not 600")
    with contextlib.suppress(OSError):
        if db.parent.resolve() != Path.home().resolve() and db.parent.stat().st_mode & 0o077:
            mode = db.parent.stat().st_mode & 0o777
            problems.append(f"{db.parent} is mode {mode:o}, not 700")
    return "; ".join(problems)

"""The state is private, and a state that cannot be written changes nothing (issue 11, item 7)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.approvals import ApprovalBook
from assistant.cli import cli
from assistant.store import DB_NAME, StateFileError, open_store


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _state() -> Path:
    return Path(os.environ["FOREMAN_STATE_DIR"])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _audit_rows(state: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(state / DB_NAME)
    try:
        return conn.execute("SELECT action, details_json FROM audit_log").fetchall()
    finally:
        conn.close()


def test_a_new_state_is_private_to_its_owner(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = open_store(state)
    ApprovalBook(store).audit(actor="terminal:me", action="test", details={})
    assert _mode(state) == 0o700
    files = {p.name: _mode(p) for p in state.iterdir()}
    assert files.pop(DB_NAME) == 0o600
    # the write-ahead log and its index exist while the store is open: private as well
    assert files == {f"{DB_NAME}-wal": 0o600, f"{DB_NAME}-shm": 0o600}
    store.close()


def test_an_earlier_versions_world_readable_state_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    open_store(state).close()
    os.chmod(state, 0o755)
    os.chmod(state / DB_NAME, 0o644)
    before = (state / DB_NAME).read_bytes()

    open_store(state).close()

    assert (_mode(state), _mode(state / DB_NAME)) == (0o700, 0o600)
    assert (state / DB_NAME).read_bytes() == before


def test_a_locked_state_refuses_the_change_after_waiting_and_names_the_file(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREMAN_STATE_WAIT", "1.5")  # the default, 15 s, would slow the suite
    path = workspace / ".ai" / "projectlist.md"
    open_store(_state()).close()
    before, audit_before = path.read_bytes(), _audit_rows(_state())
    holder = sqlite3.connect(_state() / DB_NAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing, and keeps the lock
    try:
        code, out, err = run("status", "set", "0015", "specified", "--yes")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1
    assert err.startswith("Error: ") and str(_state() / DB_NAME) in err
    assert "locked by another process (waited 1.5 s)" in err and "Traceback" not in err
    assert "wrote:" not in out
    assert path.read_bytes() == before
    assert _audit_rows(_state()) == audit_before


def test_a_status_change_whose_audit_entry_cannot_be_written_is_not_made(
    workspace: Path,
) -> None:
    path = workspace / ".ai" / "projectlist.md"
    open_store(_state()).close()
    # the audit log refuses every entry (as a full disk or a read-only file would): running
    # as root, file modes cannot make it unwritable, a trigger can
    conn = sqlite3.connect(_state() / DB_NAME)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END"
    )
    conn.commit()
    conn.close()
    before, audit_before = path.read_bytes(), _audit_rows(_state())

    code, out, err = run("status", "set", "0015", "specified", "--yes", "--reason", "x")

    assert code == 1
    assert err.startswith("Error: not changed: the audit log in ") and str(_state()) in err
    assert "wrote:" not in out
    assert path.read_bytes() == before
    assert _audit_rows(_state()) == audit_before == []


def test_a_status_change_is_audited_with_what_was_written(workspace: Path) -> None:
    code, _, err = run("status", "set", "0015", "specified", "--yes", "--no-timestamp")
    assert (code, err) == (0, "")
    store = open_store(_state())
    [entry] = ApprovalBook(store).audit_log()
    store.close()
    assert entry.action == "project.status_set"
    assert (entry.details["from"], entry.details["to"]) == ("conceived", "specified")
    assert entry.details["digest_after"] != entry.details["digest_before"]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_state_file_deleted_or_replaced_under_a_running_process_is_reported(
    tmp_path: Path, how: str
) -> None:
    state = tmp_path / "state"
    store = open_store(state)
    book = ApprovalBook(store)
    book.audit(actor="terminal:me", action="first", details={})
    db = state / DB_NAME
    if how == "deleted":
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
            (state / name).unlink(missing_ok=True)
    else:
        other = tmp_path / "other"
        open_store(other).close()
        shutil.copyfile(other / DB_NAME, tmp_path / "copy.db")
        os.replace(tmp_path / "copy.db", db)
    replaced_bytes = db.read_bytes() if db.exists() else None

    with pytest.raises(StateFileError) as refused:
        book.audit(actor="terminal:me", action="second", details={})

    assert str(refused.value) == (
        f"the state file {db} was {'deleted' if how == 'deleted' else 'replaced by another file'}"
        " while Foreman was running; nothing more was written to it: restart Foreman to open "
        "the state afresh"
    )
    # nothing written anywhere: no file made again, the file put in its place untouched
    assert (db.read_bytes() if db.exists() else None) == replaced_bytes
    store.close()

"""What commands share: `--workspace DIR` / `--file PATH`, refusals, JSON output."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from assistant.model_config import OFFLINE_MODEL
from tools.workspace import Workspace, WorkspaceNotFound, find_workspace

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from assistant.gateway import GatewayConfig
    from assistant.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def workspace_options(command: F) -> F:
    """Add `--workspace DIR` (parameter `workspace_dir`) and `--file PATH` (`file`)."""
    command = click.option(
        "--file",
        "file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="A project list file, named directly (overrides the search).",
    )(command)
    return click.option(
        "--workspace",
        "workspace_dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="The workspace holding .ai/projectlist.md or codev/projectlist.md "
        "(default: $FOREMAN_WORKSPACE, else the current directory or a parent).",
    )(command)


def config_file() -> GatewayConfig | None:
    """`foreman.toml` (./foreman.toml or $FOREMAN_CONFIG) when there is one; exit 1 if invalid."""
    if not os.environ.get("FOREMAN_CONFIG") and not Path("foreman.toml").is_file():
        return None  # the common case imports no config code
    from assistant.gateway import ConfigError, default_config_path, load_config

    path = default_config_path()
    if path is None:
        return None
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))


def configured_workspace_dir(workspace_dir: Path | None, file: Path | None) -> Path | None:
    """`--workspace`, else (when neither --file nor $FOREMAN_WORKSPACE says) foreman.toml's."""
    if workspace_dir is not None or file is not None or os.environ.get("FOREMAN_WORKSPACE"):
        return workspace_dir
    config = config_file()
    return config.workspace if config is not None else None


def configured_model(model: str | None) -> str | None:
    """`--model`, else $FOREMAN_MODEL, else foreman.toml's `model` (None: the default)."""
    if model or os.environ.get("FOREMAN_MODEL"):
        return model or os.environ.get("FOREMAN_MODEL")
    config = config_file()
    return config.model if config is not None else None


OFFLINE_NOTE = (
    "model: offline, the scripted policy the evals use (no key, no network); it understands "
    "a few phrasings such as 'show me all sessions', 'start working on 0016' or 'wrap up 0015'"
)


def chat_model(model: str | None) -> str | Model | None:
    """The model `chat` and `demo --interactive` talk to; `offline` is the scripted policy."""
    chosen = configured_model(model)
    if chosen == OFFLINE_MODEL:
        from assistant.agent import offline_model

        return offline_model()
    return chosen


def open_workspace(workspace_dir: Path | None, file: Path | None) -> Workspace:
    """The workspace the options name (or foreman.toml's), or exit 1 saying where Foreman looked."""
    workspace_dir = configured_workspace_dir(workspace_dir, file)
    try:
        return find_workspace(workspace_dir, file)
    except WorkspaceNotFound as exc:
        fail(str(exc))


def workspace_here(workspace_dir: Path | None, file: Path | None) -> Workspace | None:
    """The workspace named (exit 1 if it is not one) or found here; None when none is found."""
    if workspace_dir is not None or file is not None or os.environ.get("FOREMAN_WORKSPACE"):
        return open_workspace(workspace_dir, file)
    try:
        return find_workspace(configured_workspace_dir(None, None), None)
    except WorkspaceNotFound:
        return None


def state_dir_of(workspace: Workspace | None) -> Path:
    """The state directory for `workspace`: $FOREMAN_STATE_DIR, else foreman.toml's
    `state_dir`, else the workspace's own under the per-user data directory."""
    from assistant.store import default_state_dir

    if not os.environ.get("FOREMAN_STATE_DIR"):
        config = config_file()
        if config is not None and config.state_dir is not None:
            return config.state_dir
    return default_state_dir(workspace.root if workspace is not None else None)


def open_state(workspace: Workspace | None, state_dir: Path | None = None) -> Store:
    """The workspace's state store (or the one in `state_dir`), or exit 1 saying what is wrong.

    A file that is not a readable database is left exactly as it is: it may hold the only
    record of past approvals, so the user decides what happens to it.
    """
    import sqlite3

    from assistant.store import DB_NAME, StateFileError, open_store

    directory = state_dir or state_dir_of(workspace)
    try:
        return open_store(directory)
    except StateFileError as exc:  # locked, read-only: already one line naming the file
        fail(str(exc))
    except sqlite3.DatabaseError as exc:
        fail(
            f"the state file {directory / DB_NAME} cannot be read ({exc}); it was left as it "
            "is: move it aside to start with an empty state, or set FOREMAN_STATE_DIR"
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        fail(
            f"cannot create the state directory {directory} ({reason}); "
            "set FOREMAN_STATE_DIR to a folder you can write"
        )


AuditRecord = Callable[[dict[str, Any]], None]


@contextmanager
def audited_change(
    workspace: Workspace, action: str, details: dict[str, Any]
) -> Iterator[AuditRecord]:
    """The audit entry of a change from this terminal, written before the change is made.

    The entry (with what is known beforehand) is written first, in a transaction: a state
    that cannot take it (unwritable, locked, replaced) refuses the change before anything is
    written. The change is made inside; `record(details)` completes the entry, which commits
    when the block ends. Leaving the block without `record` rolls the entry back: the change
    was refused, so there is nothing to record. Only the commit itself, after the change,
    can still fail: that is said, never hidden.
    """
    import getpass
    import sqlite3

    from assistant.approvals import audit_in

    store = open_state(workspace)
    conn = store.connection
    recorded: list[dict[str, Any]] = []

    def rollback() -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def commit() -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            rollback()
            fail(f"the change was made, but recording it in the audit log failed: {exc}")

    def record(final: dict[str, Any]) -> None:
        conn.execute(
            "UPDATE audit_log SET details_json = ? WHERE rowid = ?",
            (json.dumps(final, sort_keys=True, default=str), rowid),
        )
        recorded.append(final)

    try:
        try:
            store.check_same_file()
            conn.execute("BEGIN IMMEDIATE")
            audit_in(conn, actor=f"terminal:{getpass.getuser()}", action=action, details=details)
            (rowid,) = conn.execute("SELECT last_insert_rowid()").fetchone()
        except sqlite3.Error as exc:
            rollback()
            fail(f"not changed: the audit log in {store.path} cannot be written ({exc})")
        try:
            yield record
        except BaseException:
            # recorded: the change was made before the block failed, and its entry stands
            if recorded:
                commit()
            else:
                rollback()
            raise
        if recorded:
            commit()
        else:
            rollback()
    finally:
        store.close()


def check_audit_writable(workspace: Workspace) -> None:
    """Refuse (exit 1, nothing changed) when the audit log cannot take an entry now.

    For a change too long to hold the state's write lock through (creating or removing a
    builder: `foreman serve` would wait on it): an entry is written and rolled back before
    the change, the real one after it.
    """
    import getpass
    import sqlite3

    from assistant.approvals import audit_in

    store = open_state(workspace)
    conn = store.connection
    try:
        store.check_same_file()
        conn.execute("BEGIN IMMEDIATE")
        audit_in(conn, actor=f"terminal:{getpass.getuser()}", action="probe", details={})
    except sqlite3.Error as exc:
        fail(f"not changed: the audit log in {store.path} cannot be written ({exc})")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        store.close()


def record_change(workspace: Workspace, action: str, details: dict[str, Any]) -> None:
    """Write a change made from this terminal to the workspace's audit log (`foreman audit`)."""
    import getpass

    from assistant.approvals import ApprovalBook

    store = open_state(workspace)
    try:
        ApprovalBook(store).audit(
            actor=f"terminal:{getpass.getuser()}", action=action, details=details
        )
    except Exception as exc:  # the change stands; say that its record is missing
        fail(f"the change was made, but recording it in the audit log failed: {exc}")
    finally:
        store.close()


def fail(message: str) -> NoReturn:
    """Exit 1 with `Error: message` on stderr, as click reports every other refusal."""
    raise click.ClickException(message)


def shown(path: Path) -> str:
    """A path as a user would type it: relative to the current directory when inside it."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def counted(n: int, noun: str) -> str:
    """`1 project`, `2 projects`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def echo_json(data: Any) -> None:
    """`--json` output: indented, non-ASCII kept as written, paths and dates as strings."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))

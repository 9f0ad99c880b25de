"""`foreman approvals`: list this workspace's approvals and resolve your own from the shell."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.options import (
    echo_json,
    fail,
    open_state,
    open_workspace,
    workspace_here,
    workspace_options,
)

if TYPE_CHECKING:
    from assistant.approvals import Approval
    from assistant.store import Store
    from tools.workspace import Workspace


def _same_place(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def _every_state(here: Workspace | None) -> Iterator[Store]:
    """This workspace's state, then every other workspace's under the per-user data directory."""
    from assistant.store import DB_NAME, default_state_dir

    if os.environ.get("FOREMAN_STATE_DIR"):
        yield open_state(here)
        return
    seen: set[Path] = set()
    if here is not None:
        seen.add(default_state_dir(here.root).resolve())
        yield open_state(here)
    # before one state per workspace, every workspace shared the data directory's own file
    shared = default_state_dir() / DB_NAME
    others = sorted((default_state_dir() / "workspaces").glob(f"*/{DB_NAME}"))
    for db in [shared, *others] if shared.is_file() else others:
        if db.parent.resolve() not in seen:
            yield open_state(None, db.parent)


def _home(path: str | None) -> str:
    if not path:
        return "-"
    home = str(Path.home())
    return "~" + path[len(home) :] if path == home or path.startswith(home + os.sep) else path


@click.group(invoke_without_command=True)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Every workspace's approvals, recently resolved ones too, with a workspace column.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@workspace_options
@click.pass_context
def approvals(
    ctx: click.Context,
    show_all: bool,
    as_json: bool,
    workspace_dir: Path | None,
    file: Path | None,
) -> None:
    """List this workspace's approvals waiting for a decision, or resolve one.

    \b
    Each workspace has its own state, so its cards are listed and decided in it (cd there,
    or --workspace DIR). Only the person a card was asked of may resolve it; here that is
    you at this terminal (terminal:<your user name>), which is who `foreman chat`, MCP and
    A2A requests ask.

    \b
    Examples:
      foreman approvals                 pending approvals of this workspace
      foreman approvals --all --json    every workspace's, recent ones too, as JSON
      foreman approvals approve k7m2qx
      foreman approvals reject k7m2qx
    """
    if ctx.invoked_subcommand is not None:
        return
    from assistant.approvals import ApprovalBook

    rows: list[Approval]
    if show_all:
        here = workspace_here(workspace_dir, file)
        rows = [a for store in _every_state(here) for a in ApprovalBook(store).recent(50)]
        rows.sort(key=lambda a: a.created_at, reverse=True)
    else:
        here = open_workspace(workspace_dir, file)
        pending = ApprovalBook(open_state(here)).pending()
        rows = [a for a in pending if a.workspace and _same_place(a.workspace, here.root)]
    if as_json:
        echo_json(
            [
                {
                    "id": a.id,
                    "state": a.state,
                    "workspace": a.workspace,
                    "principal": a.principal,
                    "chat": a.chat.key,
                    "tool": a.tool_name,
                    "args": a.args,
                    "card": a.card,
                    "created_at": a.created_at.isoformat(),
                    "expires_at": a.expires_at.isoformat(),
                }
                for a in rows
            ]
        )
        return
    if not rows:
        click.echo("No approvals." if show_all else "No approvals waiting in this workspace.")
        return
    from rich.console import Console
    from rich.table import Table

    columns = (
        ["id", "state", "workspace", "for", "action"]
        if show_all
        else ["id", "state", "for", "action"]
    )
    table = Table(box=None)
    for column in columns:
        # ids and paths are never cut: they are what a user copies
        table.add_column(column, overflow="fold")
    for a in rows:
        cells = [a.id, a.state, _home(a.workspace), a.principal, a.card.splitlines()[0]]
        table.add_row(*(cells if show_all else cells[:2] + cells[3:]))
    Console(highlight=False).print(table)


def _resolve(
    approval_id: str, approve: bool, workspace_dir: Path | None, file: Path | None
) -> None:
    from rich.console import Console

    from assistant.approvals import ApprovalBook
    from assistant.cli.chat import render, terminal_principal
    from assistant.dm import DirectMessages

    here = workspace_here(workspace_dir, file)
    found: Approval | None = None
    store: Store | None = None
    for candidate in _every_state(here):
        found = ApprovalBook(candidate).get(approval_id)
        if found is not None:
            store = candidate
            break
    if found is None or store is None:
        fail(f"no approval {approval_id} (foreman approvals --all lists every workspace's)")
    if here is None or (found.workspace and not _same_place(found.workspace, here.root)):
        # A card is decided where it was made: never carry out another checkout's change by
        # mistake from here.
        where = found.workspace or "another workspace"
        verb = "approve" if approve else "reject"
        fail(
            f"approval {found.id} belongs to the workspace {where}; "
            f"run `foreman approvals {verb} {found.id}` there (or pass --workspace {where})"
        )
    svc = DirectMessages(store, here, None, {terminal_principal().key})
    decision = asyncio.run(svc.desk.decide(found.id, terminal_principal(), approve))
    console = Console()
    errors = [m for m in decision.replies if m.kind == "error"]
    for message in decision.replies:
        if message.kind != "error":
            render(console, message)
    if errors or not decision.ok:
        fail("\n".join(m.text for m in errors) or "not carried out")


@approvals.command()
@click.argument("approval_id")
@workspace_options
def approve(approval_id: str, workspace_dir: Path | None, file: Path | None) -> None:
    """Approve APPROVAL_ID: re-validate it, carry it out, print the result (exit 1 if refused).

    \b
    Example:
      foreman approvals approve k7m2qx
    """
    _resolve(approval_id, True, workspace_dir, file)


@approvals.command()
@click.argument("approval_id")
@workspace_options
def reject(approval_id: str, workspace_dir: Path | None, file: Path | None) -> None:
    """Reject APPROVAL_ID; nothing changes.

    \b
    Example:
      foreman approvals reject k7m2qx
    """
    _resolve(approval_id, False, workspace_dir, file)


@approvals.command(name="list")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Every workspace's approvals, recently resolved ones too, with a workspace column.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@workspace_options
@click.pass_context
def list_(
    ctx: click.Context,
    show_all: bool,
    as_json: bool,
    workspace_dir: Path | None,
    file: Path | None,
) -> None:
    """List approvals (same as `foreman approvals`).

    \b
    Example:
      foreman approvals list --all --json
    """
    ctx.invoke(
        approvals, show_all=show_all, as_json=as_json, workspace_dir=workspace_dir, file=file
    )

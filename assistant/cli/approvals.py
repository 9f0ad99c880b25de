"""`foreman approvals`: list pending approvals and resolve your own from the shell."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from assistant.cli.options import echo_json, fail, workspace_options


@click.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also show recently resolved approvals.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def approvals(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List approvals waiting for a decision, or resolve one.

    \b
    Only the person a card was asked of may resolve it; here that is you at this terminal
    (terminal:<your user name>), which is who `foreman chat`, MCP and A2A requests ask.

    \b
    Examples:
      foreman approvals                 pending approvals
      foreman approvals --all --json    recent ones too, as JSON
      foreman approvals approve k7m2qx
      foreman approvals reject k7m2qx
    """
    if ctx.invoked_subcommand is not None:
        return
    from assistant.approvals import ApprovalBook
    from assistant.store import open_store

    book = ApprovalBook(open_store())
    rows = book.recent(50) if show_all else book.pending()
    if as_json:
        echo_json(
            [
                {
                    "id": a.id,
                    "state": a.state,
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
        click.echo("No approvals waiting." if not show_all else "No approvals.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "state", "for", "action", box=None)
    for a in rows:
        table.add_row(a.id, a.state, a.principal, a.card.splitlines()[0])
    Console().print(table)


def _resolve(
    approval_id: str, approve: bool, workspace_dir: Path | None, file: Path | None
) -> None:
    from rich.console import Console

    from assistant.approvals import ApprovalBook
    from assistant.cli.chat import open_service, render, terminal_principal
    from assistant.store import open_store

    approval = ApprovalBook(open_store()).get(approval_id)
    if approval is None:
        fail(f"no approval {approval_id} (foreman approvals --all lists recent ones)")
    if workspace_dir is None and file is None and approval.workspace:
        # The card knows where it was made: approve from any directory.
        workspace_dir = Path(approval.workspace)
    svc = open_service(workspace_dir, file, None)
    decision = asyncio.run(svc.desk.decide(approval_id, terminal_principal(), approve))
    console = Console()
    for message in decision.replies:
        render(console, message)
    sys.exit(0 if decision.ok else 1)


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
@click.option("--all", "show_all", is_flag=True, help="Also show recently resolved approvals.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List approvals (same as `foreman approvals`).

    \b
    Example:
      foreman approvals list --all --json
    """
    ctx.invoke(approvals, show_all=show_all, as_json=as_json)

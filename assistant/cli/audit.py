"""`foreman audit`: every change in this workspace, who made or approved it, and when."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from assistant.cli.options import echo_json, open_state, open_workspace, workspace_options


def _what(action: str, details: dict[str, Any]) -> str:
    """One readable phrase for an entry; the full record is in --json."""
    if action == "project.status_set":
        return f"{details.get('project_id')}: {details.get('from')} → {details.get('to')}"
    if action.startswith("builder."):
        forced = " (forced)" if details.get("forced") else ""
        return f"{details.get('builder')}{forced}"
    args = details.get("args") or {}
    tool = details.get("tool", "")
    target = " ".join(str(v) for k, v in sorted(args.items()) if k != "reason")
    text = f"{tool} {target}".strip()
    if details.get("summary"):
        text += f": {details['summary']}"
    elif details.get("reason"):
        text += f" ({details['reason']})"
    return text


@click.command()
@click.option("--last", "last", type=click.IntRange(min=1), default=20, show_default=True,
              help="Only the newest N entries.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every field of each entry).")
@workspace_options
def audit(last: int, as_json: bool, workspace_dir: Path | None, file: Path | None) -> None:
    """Show the workspace's audit log: each change and decision, who, when, from where.

    \b
    Every change is recorded, from any front end: cards requested, approved, rejected or
    refused (chat, Telegram, WhatsApp, MCP, A2A, `foreman approvals`), and the changes
    made directly here (`status set --yes`, `builder create`, `builder terminate`).

    \b
    Examples:
      foreman audit
      foreman audit --last 5 --json
    """
    from assistant.approvals import ApprovalBook

    workspace = open_workspace(workspace_dir, file)
    store = open_state(workspace)
    entries = ApprovalBook(store).audit_log()[-last:]
    store.close()
    if as_json:
        echo_json(
            [
                {
                    "id": e.id,
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "approval_id": e.approval_id,
                    "chat": e.chat_key,
                    "message_id": e.message_id,
                    "details": e.details,
                }
                for e in entries
            ]
        )
        return
    if not entries:
        click.echo("The audit log of this workspace is empty: nothing has been changed yet.")
        return
    for e in entries:
        when = e.at[:19].replace("T", " ")
        card = f" [{e.approval_id}]" if e.approval_id else ""
        click.echo(f"{when}  {e.actor}  {e.action}{card}  {_what(e.action, e.details)}")

"""`foreman projects`, `project`, `status set`, `check`: the project list from a terminal.

Thin layer over tools.projectlist: the library reads, checks and writes; these commands ask,
print and set the exit code (0 ok, 1 refused or failed, 2 usage error).
"""

from __future__ import annotations

import dataclasses
import getpass
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from assistant.cli.options import (
    audited_change,
    counted,
    echo_json,
    fail,
    open_workspace,
    shown,
    workspace_options,
)
from tools.projectlist import (
    STATUSES,
    Project,
    ProjectList,
    ProjectListError,
    StaleFileError,
    StatusChange,
    apply_status_change,
    load,
    plan_status_change,
)
from tools.workspace import Workspace

STATUS_CHOICE = click.Choice([*STATUSES, "on_hold"])


def builders_on_disk(workspace: Workspace, project_ids: Sequence[str]) -> dict[str, list[str]]:
    """Builder names per project from `.builders/` (empty, and no git import, when absent)."""
    if not (workspace.root / ".builders").is_dir():
        return {}
    from tools.orchestrator import builders_by_project

    return builders_by_project(workspace.root, project_ids)


def _load(workspace: Workspace) -> ProjectList:
    try:
        return load(workspace.projectlist_path)
    except ProjectListError as exc:
        fail(f"{exc}\n(run `foreman check` to see every problem)")


def _binding(project: Project) -> dict[str, Any] | None:
    if project.chat_binding is None:
        return None
    return dataclasses.asdict(project.chat_binding)


def _binding_text(project: Project) -> str:
    binding = project.chat_binding
    if binding is None:
        return ""
    where = binding.group_name or binding.channel_id or ""
    text = f"{binding.platform} {where}".strip()
    if binding.trigger != "all_messages":
        text += (
            f" ({binding.trigger}{': ' + ' '.join(binding.patterns) if binding.patterns else ''})"
        )
    return text


def project_rows(
    plist: ProjectList, builders: Mapping[str, Sequence[str]], statuses: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """One JSON-ready row per project: id, title, status, repos, builders, binding."""
    return [
        {
            "id": p.id,
            "title": p.title,
            "status": p.status,
            "repos": list(p.repos),
            "builders": list(builders.get(p.id, ())),
            "binding": _binding(p),
        }
        for p in plist.with_status(statuses)
    ]


@click.command()
@click.option(
    "--status",
    "statuses",
    type=STATUS_CHOICE,
    multiple=True,
    help="Only projects with this status (repeat for several).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@workspace_options
def projects(
    statuses: tuple[str, ...], as_json: bool, workspace_dir: Path | None, file: Path | None
) -> None:
    """List the workspace's projects: id, title, status, repos, builder, chat binding.

    \b
    Examples:
      foreman projects
      foreman projects --status implementing --status planned
      foreman projects --json | jq '.[] | select(.builders == [])'
      foreman projects --file ~/src/app/codev/projectlist.md
    """
    workspace = open_workspace(workspace_dir, file)
    plist = _load(workspace)
    builders = builders_on_disk(workspace, [p.id for p in plist.projects])
    rows = project_rows(plist, builders, statuses)
    if as_json:
        echo_json(rows)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "title", "status", "repos", "builder", "binding"):
        table.add_column(column, overflow="fold")
    by_id = {p.id: p for p in plist.projects}
    for row in rows:
        table.add_row(
            row["id"],
            row["title"],
            row["status"],
            ", ".join(row["repos"]),
            ", ".join(row["builders"]),
            _binding_text(by_id[row["id"]]),
        )
    console = Console(highlight=False, soft_wrap=False)
    console.print(table)
    summary = (
        f"{len(rows)} of {counted(len(plist.projects), 'project')}"
        if statuses
        else counted(len(rows), "project")
    )
    console.print(f"{summary} in {shown(plist.path)} ({plist.format} format)", markup=False)
    if plist.warnings:
        click.echo(
            f"{len(plist.warnings)} warning(s) about this file: run `foreman check`", err=True
        )


@click.command()
@click.argument("project_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@workspace_options
def project(project_id: str, as_json: bool, workspace_dir: Path | None, file: Path | None) -> None:
    """Show one project with all its fields, as written in the project list.

    \b
    Examples:
      foreman project 0014
      foreman project 14 --json
    """
    workspace = open_workspace(workspace_dir, file)
    plist = _load(workspace)
    try:
        found = plist.find(project_id)
    except ProjectListError as exc:
        fail(exc.message)
    builders = list(builders_on_disk(workspace, [found.id]).get(found.id, ()))
    if as_json:
        data = dataclasses.asdict(found)
        # `source`: the entry exactly as written, as the text output ends with it
        data.update(file=str(plist.path), builders=builders, source=plist.source(found.id))
        echo_json(data)
        return
    click.echo(f"{found.id}  {found.title}")
    facts = [
        ("status", found.status),
        ("file", f"{shown(plist.path)}:{found.line}"),
        ("repos", ", ".join(found.repos)),
        ("builder", ", ".join(builders)),
        ("binding", _binding_text(found)),
    ]
    for name, value in facts:
        click.echo(f"  {name:<8} {value or '-'}")
    if not found.in_fence:
        click.echo("  (written outside a ```yaml fence)")
    click.echo("")
    click.echo(plist.source(found.id).rstrip("\r\n"))


@click.group()
def status() -> None:
    """Change a project's status (the only edit Foreman makes to the project list).

    \b
    Example:
      foreman status set 0014 implementing --yes --reason "builder started"
    """


@status.command("set")
@click.argument("project_id")
@click.argument("new_status", metavar="STATUS", type=STATUS_CHOICE)
@click.option(
    "--yes", is_flag=True, help="Approve without asking (the human's approval for scripts)."
)
@click.option(
    "--timestamp",
    metavar="VALUE",
    help="Write VALUE into the entry's `<status>_at` line (default: now, ISO 8601).",
)
@click.option("--no-timestamp", is_flag=True, help="Leave the `<status>_at` line untouched.")
@click.option("--reason", metavar="TEXT", help="Why; recorded in the audit log.")
@workspace_options
def set_(
    project_id: str,
    new_status: str,
    yes: bool,
    timestamp: str | None,
    no_timestamp: bool,
    reason: str | None,
    workspace_dir: Path | None,
    file: Path | None,
) -> None:
    """Move PROJECT_ID to STATUS, rewriting only its status line (and `<status>_at` line).

    Shows the one-line change and any warning (a skipped step, a move backwards, a human-only
    gate), then asks on a terminal. Without a terminal it refuses unless --yes is given.

    \b
    Examples:
      foreman status set 0014 implementing
      foreman status set 14 integrated --yes --timestamp 2026-02-09
      foreman status set 0014 on-hold --yes --no-timestamp --reason "waiting on API keys"
    """
    if timestamp is not None and no_timestamp:
        raise click.UsageError("--timestamp and --no-timestamp cannot be used together")
    workspace = open_workspace(workspace_dir, file)
    # `on_hold` is accepted as typed and written in codev's canonical form, so the write
    # never earns the warning `check` gives the underscore
    new_status = "on-hold" if new_status == "on_hold" else new_status
    try:
        plist = load(workspace.projectlist_path, strict=False)
        change = plan_status_change(
            plist,
            project_id,
            new_status,
            timestamp=None if no_timestamp else (timestamp or "now"),
        )
    except ProjectListError as exc:
        fail(str(exc))
    if not change.diff:
        fail(f"{change.project_id} is already {change.old_status}; nothing to change")
    click.echo(f"{shown(plist.path)}: {change.render()}")
    for warning in change.warnings:
        click.echo(f"  warning: {warning}")
    if not yes:
        if not sys.stdin.isatty():
            fail("not changed: confirm on a terminal, or pass --yes to approve from a script")
        if not click.confirm("Apply this change?", default=False):
            fail("cancelled; nothing was written")
    # the audit entry is written first: a state that cannot take it refuses the change
    with audited_change(workspace, "project.status_set", _details(change, reason)) as record:
        try:
            written = apply_status_change(change)
        except StaleFileError as exc:
            fail(f"{exc.message}\n(the file changed while the change was being approved)")
        except ProjectListError as exc:
            fail(str(exc))
        click.echo("wrote:")
        for line, old, new in written.diff:
            click.echo(f"  {line}: - {old.strip()}")
            click.echo(f"  {line}: + {new.strip()}")
        commit, commit_error = _commit(workspace, written)
        record(_details(written, reason, commit))
    if commit_error:
        fail(f"the change was written, but not committed: {commit_error}")


def _commit(workspace: Workspace, change: StatusChange) -> tuple[str | None, str | None]:
    """With FOREMAN_GIT_COMMIT=1, commit the project list as an approved card would be:
    (the commit, or why it failed)."""
    from assistant.approvals import CommitFailed, commit_projectlist, git_commit_enabled

    if not git_commit_enabled():
        return None, None
    summary = f"{change.project_id}: {change.old_status} → {change.new_status}"
    try:
        sha = commit_projectlist(workspace, summary, f"terminal:{getpass.getuser()}", "")
    except CommitFailed as exc:
        return None, str(exc)
    click.echo(f"committed {sha[:12]}")
    return sha, None


def _details(change: StatusChange, reason: str | None, commit: str | None = None) -> dict[str, Any]:
    """Who changed what, and why: the audit entry of a status change."""
    return {
        "file": str(change.path),
        "project_id": change.project_id,
        "from": change.old_status,
        "to": change.new_status,
        "timestamp": change.timestamp,
        "reason": reason,
        "diff": change.diff,
        "digest_before": change.digest_before,
        "digest_after": change.digest_after,
        **({"commit": commit} if commit else {}),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@workspace_options
def check(as_json: bool, workspace_dir: Path | None, file: Path | None) -> None:
    """Check the project list: parse errors with line numbers, then warnings.

    Warnings: entries outside ```yaml fences, stray fences, unknown statuses, `on_hold`,
    duplicate ids, unquoted or non-numeric ids. Exit 1 when there is an error.

    \b
    Examples:
      foreman check
      foreman check --json --file codev/projectlist.md
    """
    workspace = open_workspace(workspace_dir, file)
    path = workspace.projectlist_path
    try:
        plist = load(path, strict=False)
    except ProjectListError as exc:  # unreadable: not UTF-8, missing
        if as_json:
            echo_json({"file": str(path), "ok": False, "errors": [_issue(exc.line, exc.message)]})
        else:
            click.echo(f"{shown(path)}:{exc.line}: error: {exc.message}")
        sys.exit(1)
    if as_json:
        echo_json(
            {
                "file": str(plist.path),
                "format": plist.format,
                "ok": not plist.errors,
                "projects": len(plist.projects),
                "templates_skipped": plist.templates,
                "errors": [_issue(i.line, i.message) for i in plist.errors],
                "warnings": [_issue(i.line, i.message) for i in plist.warnings],
            }
        )
    else:
        for issue in plist.issues:
            click.echo(f"{shown(path)}:{issue.line}: {issue.severity}: {issue.message}")
        click.echo(
            f"{shown(path)}: {counted(len(plist.projects), 'project')}, "
            f"{len(plist.errors)} error(s), "
            f"{len(plist.warnings)} warning(s)"
        )
    if plist.errors:
        sys.exit(1)


def _issue(line: int, message: str) -> dict[str, Any]:
    return {"line": line, "message": message}

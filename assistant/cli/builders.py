"""`foreman builder ...`: create, list, inspect, sync and terminate builders from a terminal.

Thin layer over tools.orchestrator; the library does the checking and the CLI only asks, prints
and sets the exit code (0 ok, 1 refused or failed, 2 usage error).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from assistant.cli.options import (
    check_audit_writable,
    echo_json,
    fail,
    open_state,
    open_workspace,
    record_change,
    state_dir_of,
    workspace_options,
)

if TYPE_CHECKING:
    from tools.orchestrator import Orchestrator
    from tools.workspace import Workspace

T = TypeVar("T")
BACKENDS = ["auto", "native", "taskfile"]


def _builder_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The shared `--workspace` / `--file` options, and `--backend`."""
    command = click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default="auto",
        show_default=True,
        help="auto uses the workspace Taskfile when it defines builder:init and builder:cleanup.",
    )(command)
    return workspace_options(command)


def _run(
    workspace_dir: Path | None,
    file: Path | None,
    backend: str,
    action: Callable[[Orchestrator], Awaitable[T]],
) -> T:
    """Find the workspace, open the OpenCode client when configured, run `action`."""
    from tools.orchestrator import Orchestrator, OrchestratorError, session_permission_from_env

    found = open_workspace(workspace_dir, file)
    settings = _settings(found)

    async def main() -> T:
        async with AsyncExitStack() as stack:
            client = _opencode_client()
            if client is not None:
                client = await stack.enter_async_context(client)
            orch = Orchestrator(
                found,
                opencode=client,
                backend=backend,  # type: ignore[arg-type]
                session_permission=session_permission_from_env(),
                **settings,
            )
            return await action(orch)

    try:
        return asyncio.run(main())
    except OrchestratorError as e:
        if e.output:
            click.echo(e.output, err=True)
        fail(e.reason)


def _settings(workspace: Workspace) -> dict[str, Any]:
    """From foreman.toml: `[builders] regenerable` and `archive_days`, and the state directory
    that forced terminates archive into (`<state>/archives`)."""
    from assistant.gateway import ConfigError, default_config_path, load_config

    try:
        config = load_config(default_config_path())
    except ConfigError as e:
        fail(str(e))
    settings: dict[str, Any] = {
        "archive_dir": state_dir_of(workspace) / "archives",
        "archive_retention_days": config.builders.archive_days,
    }
    if config.builders.regenerable is not None:
        settings["regenerable"] = config.builders.regenerable
    return settings


def _opencode_client() -> Any:
    """The OpenCode client from FOREMAN_OPENCODE_URL / FOREMAN_OPENCODE_PASSWORD, or None."""
    try:
        from tools.opencode import OpenCodeClient
    except ImportError:
        return None
    return OpenCodeClient.from_env()


def _confirm(action: str, yes: bool) -> None:
    """--yes is the human's approval for scripts; on a terminal we ask; otherwise we refuse."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{action}: needs your approval; pass --yes (no terminal to ask on)")
    if not click.confirm(f"{action}?", default=False):
        fail("cancelled; nothing was changed")


@click.group()
def builder() -> None:
    """Builders: git worktrees under .builders/<id>-<slug>/ with an OpenCode session each.

    \b
    Examples:
      foreman builder create 0015 --yes           # .builders/0015-new-feature/
      foreman builder create 0015 --name bridge   # a second builder: 0015-bridge
      foreman builder list --json
      foreman builder terminate 0015-new-feature  # refused (exit 1) while work would be lost
    """


@builder.command()
@click.argument("project_id")
@click.option("--repos", default="", help="Extra repos under repos/, comma separated: a,b.")
@click.option("--name", "suffix", help="Name suffix: 0015 --name bridge makes 0015-bridge.")
@click.option("--yes", is_flag=True, help="Approve without asking.")
@_builder_options
def create(
    project_id: str,
    repos: str,
    suffix: str | None,
    yes: bool,
    workspace_dir: Path | None,
    file: Path | None,
    backend: str,
) -> None:
    """Create a builder for PROJECT_ID: a worktree of the workspace and of each of its repos.

    \b
    Example:
      foreman builder create 0015 --repos extra-repo --yes
    """
    extra = tuple(r.strip() for r in repos.split(",") if r.strip())

    async def action(orch: Orchestrator) -> None:
        plan = await orch.plan_builder(project_id, extra, suffix)
        click.echo(plan.render())
        _confirm(f"Create builder {plan.name}", yes)
        check_audit_writable(orch.workspace)  # a builder made but never recorded: refused
        made = await orch.create_builder(project_id, extra, suffix)
        click.echo(made.render())
        record_change(
            orch.workspace,
            "builder.created",
            {
                "builder": made.name,
                "project_id": made.project_id,
                "path": str(made.path),
                "branch": made.branch,
                "repos": [w.repo for w in made.worktrees],
            },
        )

    _run(workspace_dir, file, backend, action)


@builder.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_builder_options
def list_(as_json: bool, workspace_dir: Path | None, file: Path | None, backend: str) -> None:
    """List the builders on disk with the state of each worktree.

    \b
    Examples:
      foreman builder list
      foreman builder list --json --workspace ~/src/app
    """

    async def action(orch: Orchestrator) -> None:
        found = await orch.list_builders()
        if as_json:
            echo_json([b.to_dict() for b in found])
        elif not found:
            click.echo("no builders (create one with: foreman builder create ID)")
        else:
            click.echo("\n".join(b.render() for b in found))

    _run(workspace_dir, file, backend, action)


@builder.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_builder_options
def status(
    name: str, as_json: bool, workspace_dir: Path | None, file: Path | None, backend: str
) -> None:
    """One builder: per worktree clean or dirty, ahead/behind, last commit; its session.

    \b
    Example:
      foreman builder status 0015-new-feature --json
    """

    async def action(orch: Orchestrator) -> None:
        found = await orch.builder_status(name)
        spend = _spend(orch.workspace, name)
        if as_json:
            echo_json({**found.to_dict(), "spend": spend})
        else:
            click.echo(found.render())
            if found.session_note:
                click.echo(f"  {found.session_note}")
            click.echo(f"  {spend['line']}")

    _run(workspace_dir, file, backend, action)


def _spend(workspace: Workspace, name: str) -> dict[str, Any]:
    """What the builder spent on its model while the relay carried it, and its budget."""
    from assistant.spend import BudgetError, Ledger
    from tools.projectlist import ProjectListError, load

    ledger = Ledger(open_state(workspace))
    total = ledger.total(name)
    noun = "call" if total.messages == 1 else "calls"
    line = f"spent {total.render()} over {total.messages} model {noun}; "
    data: dict[str, Any] = total.to_dict()
    try:
        projects = load(workspace.projectlist_path, strict=False).projects
    except ProjectListError:
        projects = ()
    try:
        budget = ledger.budget(name, projects)
    except BudgetError as exc:
        data["budget_error"] = str(exc)
        line += f"budget: {exc}"
    else:
        data["budget_usd"], data["budget_source"] = budget.usd, budget.source
        line += budget.describe()
        if budget.usd is not None:
            line += f", {int(total.cost / budget.usd * 100)}% used"
    ledger.store.close()
    return {**data, "line": line}


@builder.command()
@click.argument("name")
@click.option("--repo", default=None, help="Only this repository's worktree (e.g. ai-dev).")
@click.option("--patch", is_flag=True, help="Print the full patch after the summary.")
@_builder_options
def diff(
    name: str,
    repo: str | None,
    patch: bool,
    workspace_dir: Path | None,
    file: Path | None,
    backend: str,
) -> None:
    """What builder NAME changed: per worktree, uncommitted and committed-but-unpushed apart.

    \b
    Examples:
      foreman builder diff 0015-new-feature
      foreman builder diff 0015-new-feature --repo ai-dev --patch > 0015.diff
    """

    async def action(orch: Orchestrator) -> None:
        found = await orch.builder_diff(name, repo, patch=patch)
        click.echo(found.render())
        if patch and found.changed:
            click.echo()
            click.echo(found.patch(), nl=False)

    _run(workspace_dir, file, backend, action)


@builder.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Approve without asking.")
@click.option("--force", is_flag=True, help="Remove it even when work would be lost.")
@_builder_options
def terminate(
    name: str, yes: bool, force: bool, workspace_dir: Path | None, file: Path | None, backend: str
) -> None:
    """Remove builder NAME. Refused (exit 1, with a report) while work would be lost.

    Branches are kept. --force removes a dirty builder anyway, after approval.

    \b
    Examples:
      foreman builder terminate 0015-new-feature          # asks; refused while dirty
      foreman builder terminate 0015-new-feature --force --yes  # discards the work
    """

    async def action(orch: Orchestrator) -> None:
        report = await orch.dirty_report(name, with_content=force)
        if not report.clean:
            click.echo(f"{name} holds work that would be lost:\n{report.render()}")
            if not force:
                fail(
                    f"{name} was not terminated: nothing was removed "
                    "(commit and push, or pass --force to archive the work and remove it)"
                )
        _confirm(f"{'Force-remove' if force else 'Remove'} builder {name}", yes)
        check_audit_writable(orch.workspace)  # a builder removed but never recorded: refused
        # what was shown is what may go: anything that changed since refuses the removal
        result = await orch.terminate_builder(
            name, force=force, expected_fingerprint=report.fingerprint
        )
        if not result.done:
            if not result.report.clean:
                click.echo(result.report.render())
            fail(f"{name} was not terminated: {result.refused}")
        click.echo(result.render())
        record_change(
            orch.workspace,
            "builder.terminated",
            {
                "builder": name,
                "forced": result.forced,
                "discarded": report.render() if not report.clean else "",
                "archive": str(result.archive) if result.archive else None,
                "restore": result.restore or None,
                "branches_kept": list(result.branches_kept),
            },
        )

    _run(workspace_dir, file, backend, action)


@builder.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_builder_options
def reconcile(as_json: bool, workspace_dir: Path | None, file: Path | None, backend: str) -> None:
    """Compare the project list with the disk: reports differences, changes nothing.

    \b
    Example:
      foreman builder reconcile --json
    """

    async def action(orch: Orchestrator) -> None:
        report = await orch.reconcile()
        if as_json:
            echo_json({**report.to_dict(), "in_sync": report.in_sync})
        else:
            click.echo(report.render())

    _run(workspace_dir, file, backend, action)


@builder.command()
@click.argument("name")
@_builder_options
def sync(name: str, workspace_dir: Path | None, file: Path | None, backend: str) -> None:
    """Push each branch of builder NAME that has a remote; exit 1 when a push fails.

    \b
    Example:
      foreman builder sync 0015-new-feature
    """

    async def action(orch: Orchestrator) -> None:
        result = await orch.sync_builder(name)
        click.echo(result.render())
        if not result.ok:
            failed = ", ".join(p.repo for p in result.pushes if p.remote and not p.pushed)
            fail(f"{name}: the push failed for {failed}; see above")

    _run(workspace_dir, file, backend, action)

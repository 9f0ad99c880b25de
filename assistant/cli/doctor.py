"""`foreman doctor`: what Foreman found and what is missing."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from types import ModuleType

import click

from assistant.cli.options import echo_json, workspace_options


def load_every_tier() -> tuple[ModuleType, ...]:
    """The tiers doctor covers: each registers its own checks when imported (the model and
    prompt; the `task` binary and OpenCode server; the config file and channels).
    assistant.doctor itself registers python and workspace."""
    from assistant import agent_doctor, builders_doctor, gateway

    return agent_doctor, builders_doctor, gateway


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@workspace_options
def doctor(as_json: bool, workspace_dir: Path | None, file: Path | None) -> None:
    """Show what Foreman found: workspace, project list and format, counts, and the
    checks other parts add (model key, OpenCode server, channels). Exit 1 if one fails.

    \b
    Examples:
      foreman doctor
      foreman doctor --json --workspace ~/src/app
    """
    from assistant.doctor import DoctorContext, run_checks

    load_every_tier()
    results = run_checks(DoctorContext(workspace_dir, file))
    ok = all(check.ok for check in results)
    if as_json:
        data = {"ok": ok, "checks": [dataclasses.asdict(check) for check in results]}
        echo_json(data)
    else:
        width = max((len(check.name) for check in results), default=0)
        for check in results:
            mark = "ok  " if check.ok else "FAIL"
            click.echo(f"{mark}  {check.name:<{width}}  {check.detail}")
    if not ok:
        sys.exit(1)

"""`foreman doctor`: what Foreman found and what is missing."""

from __future__ import annotations

import dataclasses
import os
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
    """Show what Foreman found: workspace, project list and format, counts, the state
    directory, and the checks other parts add (model key, OpenCode server, channels).
    Reads foreman.toml; changes nothing. Exit 1 if a check fails (a warning does not).

    \b
    Examples:
      foreman doctor
      foreman doctor --json --workspace ~/src/app
    """
    from assistant.doctor import DoctorContext, run_checks
    from assistant.gateway import ConfigError, default_config_path, load_config

    load_every_tier()
    try:
        # FOREMAN_* variables win over the file's values, as everywhere
        config = load_config(default_config_path())
    except ConfigError:
        config = None  # the config check names the problem; the others run without it
    if workspace_dir is None and file is None and config is not None:
        workspace_dir = config.workspace
    context = DoctorContext(
        workspace_dir,
        file,
        model=config.model if config is not None else os.environ.get("FOREMAN_MODEL"),
        state_dir=config.state_dir if config is not None else None,
    )
    results = run_checks(context)
    ok = all(check.ok or check.warning for check in results)
    if as_json:
        checks = [dataclasses.asdict(check) for check in results]
        for check in checks:
            if not check["warning"]:
                del check["warning"]  # only a warning says so
        echo_json({"ok": ok, "checks": checks})
    else:
        width = max((len(check.name) for check in results), default=0)
        for check in results:
            mark = "ok  " if check.ok else "warn" if check.warning else "FAIL"
            click.echo(f"{mark}  {check.name:<{width}}  {check.detail}")
    if not ok:
        sys.exit(1)

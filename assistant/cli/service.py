"""`foreman service …`: run `foreman serve` in the background under systemd or launchd."""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.options import fail, shown

if TYPE_CHECKING:
    from assistant.service_unit import Action, Manager

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="foreman.toml the service reads (default: $FOREMAN_CONFIG, else ./foreman.toml).",
)


@click.group()
def service() -> None:
    """Run the gateway (`foreman serve`) in the background, restarted when it fails.

    \b
    Linux: a systemd user unit (~/.config/systemd/user/foreman.service); macOS: a
    LaunchAgent (~/Library/LaunchAgents/dev.foreman.gateway.plist). The gateway writes
    its health to the state directory every few seconds; `status` shows it.

    \b
    Examples:
      foreman service install --print
      foreman service install
      foreman service status
    """


def _manager() -> Manager:
    from assistant.service_unit import manager_for

    # FOREMAN_SERVICE_MANAGER picks the other manager's file for `install --print` on any OS
    chosen = os.environ.get("FOREMAN_SERVICE_MANAGER")
    if chosen is None:
        return manager_for()
    if chosen not in ("systemd", "launchd"):
        fail(f"FOREMAN_SERVICE_MANAGER={chosen!r}: expected systemd or launchd")
    return chosen  # type: ignore[return-value]


def _installed_unit() -> Path:
    from assistant.service_unit import unit_path

    unit = unit_path(_manager())
    if not unit.is_file():
        fail(
            f"the service is not installed ({shown(unit)} is missing): "
            "run `foreman service install`"
        )
    return unit


def _run(action: Action, unit: Path) -> None:
    from assistant.service_unit import ServiceError, manager_commands, run_manager

    try:
        for command in manager_commands(_manager(), action, unit):
            run_manager(command)
    except ServiceError as exc:
        fail(str(exc))


@service.command("install")
@config_option
@click.option(
    "--workspace",
    "workspace_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The workspace the service runs in (default: workspace = in foreman.toml, else here).",
)
@click.option("--print", "print_only", is_flag=True, help="Show the unit file; write nothing.")
def install(config_path: Path | None, workspace_dir: Path | None, print_only: bool) -> None:
    """Write the unit file, enable it and start it (with --print: only show it).

    \b
    The unit runs this Python's `foreman serve --config FILE` in the workspace, reads
    foreman.env beside foreman.toml (model keys) and restarts it when it fails.

    \b
    Examples:
      foreman service install --print
      foreman service install --config ~/foreman/foreman.toml
    """
    from assistant.gateway import ConfigError, default_config_path, load_config
    from assistant.service_unit import ServiceSpec, lingering, render_launchd, render_systemd
    from assistant.service_unit import unit_path as path_for
    from assistant.setup import EnvFile
    from assistant.store import default_state_dir
    from tools.workspace import WorkspaceNotFound, find_workspace

    path = config_path or default_config_path()
    if path is None:
        fail("no foreman.toml here: run `foreman setup` first, or pass --config FILE")
    path = path.expanduser().absolute()
    try:
        config = load_config(path, env={})
    except ConfigError as exc:
        fail(str(exc))
    if config.telegram is None and config.whatsapp is None:
        fail(f"{shown(path)} configures no chat channel: run `foreman setup telegram` first")
    try:
        workspace = find_workspace(workspace_dir or config.workspace).root
    except WorkspaceNotFound as exc:
        fail(f"{exc}; `foreman init` starts one")
    state = os.environ.get("FOREMAN_STATE_DIR")
    spec = ServiceSpec(
        python=Path(sys.executable),
        config=path,
        workspace=workspace,
        env_file=EnvFile.beside(path).path,
        state_dir=config.state_dir or (Path(state).expanduser().absolute() if state else None),
    )
    manager = _manager()
    log_dir = (spec.state_dir or default_state_dir(workspace)) / "logs"
    text = render_launchd(spec, log_dir) if manager == "launchd" else render_systemd(spec)
    if print_only:
        click.echo(text, nl=False)
        return
    unit = path_for(manager)
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(text, encoding="utf-8")
    if manager == "launchd":
        log_dir.mkdir(parents=True, exist_ok=True)  # launchd opens the log, never its folder
    _run("install", unit)
    click.echo(f"Installed {unit}: the gateway runs now, and again after a failure.")
    if not spec.env_file.is_file():
        click.echo(
            f"No {spec.env_file.name} beside {path.name}: without a model key the assistant "
            "answers slash commands only (`foreman setup model` adds one)."
        )
    if manager == "systemd":
        user = getpass.getuser()
        if lingering(user) is not True:
            click.echo(
                "It stops when you log out: to keep it running (and start it at boot), "
                f"run: loginctl enable-linger {user}"
            )
        click.echo("Logs: journalctl --user -u foreman.service -f")
    click.echo("Health: foreman service status")


@service.command("uninstall")
def uninstall() -> None:
    """Stop the service, disable it and remove its unit file.

    \b
    Example:
      foreman service uninstall
    """
    unit = _installed_unit()
    _run("uninstall", unit)
    unit.unlink()
    if _manager() == "systemd":
        from assistant.service_unit import ServiceError, run_manager

        try:
            run_manager(["systemctl", "--user", "daemon-reload"])
        except ServiceError as exc:
            fail(str(exc))
    click.echo(f"Removed {unit}; the gateway no longer runs in the background.")


def _simple(action: Action, done: str) -> click.Command:
    @click.command(
        action,
        help=f"{action.capitalize()} the gateway service.\n\n\b\n"
        f"Example:\n  foreman service {action}",
    )
    def command() -> None:
        _run(action, _installed_unit())
        click.echo(f"{done}; see `foreman service status`.")

    return command


service.add_command(_simple("start", "Started"))
service.add_command(_simple("stop", "Stopped"))
service.add_command(_simple("restart", "Restarted"))


@service.command("status")
@config_option
def status(config_path: Path | None) -> None:
    """What the service manager says, and the health the running gateway wrote.

    \b
    Exit 0 when the service runs and its health is fresh, else 1.

    \b
    Example:
      foreman service status
    """
    from assistant.gateway import (
        ConfigError,
        default_config_path,
        health_path,
        load_config,
        read_health,
    )
    from assistant.service_unit import launchd_view, systemd_view, unit_path
    from assistant.store import default_state_dir
    from tools.workspace import WorkspaceNotFound, find_workspace

    manager = _manager()
    view = launchd_view() if manager == "launchd" else systemd_view()
    unit = unit_path(manager)
    pid = f", pid {view.pid}" if view.pid else ""
    detail = f" ({view.detail})" if view.detail else ""
    click.echo(f"service   {view.state}{detail}{pid}; {unit}")
    try:
        config = load_config(config_path or default_config_path())
    except ConfigError as exc:
        fail(str(exc))
    # where `foreman serve` writes it: its state directory, by default its workspace's own
    state_dir = config.state_dir
    if state_dir is None:
        try:
            state_dir = default_state_dir(find_workspace(config.workspace).root)
        except WorkspaceNotFound:
            state_dir = default_state_dir()
    health = read_health(state_dir)
    now = datetime.now(UTC)
    if health is None:
        click.echo(f"health    none in {health_path(state_dir)}: the gateway has not run yet")
        sys.exit(1)
    age = health.age(now)
    if health.fresh(now):
        since = datetime.fromisoformat(health.started_at)
        click.echo(
            f"health    written {age:.0f} s ago by pid {health.pid}, "
            f"up since {since:%Y-%m-%d %H:%M} UTC"
        )
    elif not health.running:
        stopped = datetime.fromisoformat(health.written_at)
        click.echo(
            f"health    the gateway (pid {health.pid}) stopped at {stopped:%Y-%m-%d %H:%M} UTC"
        )
    else:
        click.echo(
            f"health    stale: last written {age:.0f} s ago by pid {health.pid} (not running?)"
        )
    for channel in health.channels:
        seen = "none"
        if channel.last_inbound:
            seen = f"{datetime.fromisoformat(channel.last_inbound):%Y-%m-%d %H:%M:%S} UTC"
        detail = f" {channel.detail}" if channel.detail else ""
        click.echo(f"{channel.platform:<9} {channel.state}{detail}; last inbound {seen}")
    opencode = (
        health.opencode if not health.opencode_url else f"{health.opencode_url} {health.opencode}"
    )
    if health.opencode_managed:
        restarts = f", restarted {health.opencode_restarts}×" if health.opencode_restarts else ""
        opencode += f" (run by foreman serve: {health.opencode_state}{restarts})"
    skipped = (
        f" ({health.relay_malformed_events} malformed event(s) skipped)"
        if health.relay_malformed_events
        else ""
    )
    click.echo(
        f"relay     {'on' if health.relay else 'off'}{skipped}; "
        f"assistant {'on' if health.assistant else 'off'}; OpenCode {opencode}"
    )
    click.echo(f"cards     {health.pending_cards} pending approval(s)")
    if not (health.fresh(now) and view.state in ("active", "unknown")):
        sys.exit(1)

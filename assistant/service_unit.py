"""`foreman serve` as a background service: a systemd user unit on Linux, a LaunchAgent on macOS.

Rendering is pure (tested into a temporary config home); the service manager is driven through
its own command line (`systemctl --user`, `launchctl`), never a library, so what Foreman runs
is what a user would type.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

UNIT_NAME = "foreman.service"
AGENT_LABEL = "dev.foreman.gateway"

Manager = Literal["systemd", "launchd"]


class ServiceError(Exception):
    """The service manager refused or is missing; one sentence saying which and what to do."""


@dataclass(frozen=True)
class ServiceSpec:
    """What the service runs: this Python's `foreman serve`, the config, the workspace."""

    python: Path
    config: Path
    workspace: Path
    env_file: Path
    state_dir: Path | None = None  # only when set explicitly: the default is the user's own

    def command(self) -> list[str]:
        return [str(self.python), "-m", "assistant", "serve", "--config", str(self.config)]


def manager_for(platform: str = sys.platform) -> Manager:
    return "launchd" if platform == "darwin" else "systemd"


def unit_path(manager: Manager, env: Mapping[str, str] | None = None) -> Path:
    """Where the unit file goes: the user's systemd directory, or ~/Library/LaunchAgents."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if manager == "launchd":
        return home / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
    config_home = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(config_home) / "systemd" / "user" / UNIT_NAME


def _systemd_quote(value: str) -> str:
    # systemd splits ExecStart like a shell and expands %-specifiers; quote and escape both
    value = value.replace("%", "%%")
    if value and all(c.isalnum() or c in "/._-:+=@," for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_systemd(spec: ServiceSpec) -> str:
    environment = [f"FOREMAN_CONFIG={spec.config}"]
    if spec.state_dir is not None:
        environment.append(f"FOREMAN_STATE_DIR={spec.state_dir}")
    lines = [
        "# Written by `foreman service install`; `foreman service uninstall` removes it.",
        "[Unit]",
        "Description=Foreman gateway: chat channels, assistant and relay",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={_systemd_quote(str(spec.workspace))}",
        # the leading '-': a missing foreman.env (no model key yet) is not an error
        f"EnvironmentFile=-{_systemd_quote(str(spec.env_file))}",
        *(f"Environment={_systemd_quote(item)}" for item in environment),
        "Environment=PYTHONUNBUFFERED=1",
        "ExecStart=" + " ".join(_systemd_quote(part) for part in spec.command()),
        "Restart=on-failure",
        "RestartSec=5",
        # `foreman serve` stops its channels cleanly on SIGTERM
        "TimeoutStopSec=30",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def render_launchd(spec: ServiceSpec, log_dir: Path) -> str:
    environment = {"FOREMAN_CONFIG": str(spec.config), "PYTHONUNBUFFERED": "1"}
    if spec.state_dir is not None:
        environment["FOREMAN_STATE_DIR"] = str(spec.state_dir)
    # launchd has no environment file: a small shell reads foreman.env, then runs serve
    script = (
        f"[ -f {shlex.quote(str(spec.env_file))} ] && set -a && . "
        f"{shlex.quote(str(spec.env_file))}; set +a; exec {shlex.join(spec.command())}"
    )
    plist = {
        "Label": AGENT_LABEL,
        "ProgramArguments": ["/bin/sh", "-c", script],
        "WorkingDirectory": str(spec.workspace),
        "EnvironmentVariables": environment,
        "RunAtLoad": True,
        # restart when it exits with an error, as systemd's Restart=on-failure
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 5,
        "StandardOutPath": str(log_dir / "serve.log"),
        "StandardErrorPath": str(log_dir / "serve.log"),
    }
    return plistlib.dumps(plist).decode()


Action = Literal["install", "uninstall", "start", "stop", "restart"]


def manager_commands(manager: Manager, action: Action, unit: Path) -> list[list[str]]:
    """The service manager's commands for `action`, in order."""
    if manager == "systemd":
        systemctl = ["systemctl", "--user"]
        return {
            "install": [[*systemctl, "daemon-reload"], [*systemctl, "enable", "--now", UNIT_NAME]],
            "uninstall": [[*systemctl, "disable", "--now", UNIT_NAME]],
            "start": [[*systemctl, "start", UNIT_NAME]],
            "stop": [[*systemctl, "stop", UNIT_NAME]],
            "restart": [[*systemctl, "restart", UNIT_NAME]],
        }[action]
    domain = f"gui/{os.getuid()}"
    return {
        "install": [["launchctl", "bootstrap", domain, str(unit)]],
        "uninstall": [["launchctl", "bootout", f"{domain}/{AGENT_LABEL}"]],
        "start": [["launchctl", "kickstart", f"{domain}/{AGENT_LABEL}"]],
        "stop": [["launchctl", "kill", "SIGTERM", f"{domain}/{AGENT_LABEL}"]],
        "restart": [["launchctl", "kickstart", "-k", f"{domain}/{AGENT_LABEL}"]],
    }[action]


def run_manager(command: list[str]) -> str:
    """Run one service-manager command; its output, or ServiceError with its own last line."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise ServiceError(
            f"{command[0]} not found: this system has no {command[0]} to run the service; "
            "run `foreman serve` yourself (e.g. in tmux)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ServiceError(f"`{shlex.join(command)}` did not answer within 60 s") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        reason = said[-1] if said else f"exit status {done.returncode}"
        raise ServiceError(f"`{shlex.join(command)}` failed: {reason}")
    return done.stdout


@dataclass(frozen=True)
class ManagerView:
    """What the service manager says about the unit."""

    state: str  # active, inactive, failed, activating, not-installed, unknown
    detail: str = ""
    pid: int | None = None


def systemd_view() -> ManagerView:
    try:
        out = run_manager(
            [
                "systemctl",
                "--user",
                "show",
                UNIT_NAME,
                "--property=LoadState,ActiveState,SubState,MainPID,NRestarts",
            ]
        )
    except ServiceError as exc:
        return ManagerView("unknown", str(exc))
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if props.get("LoadState") == "not-found":
        return ManagerView("not-installed", "run `foreman service install`")
    pid = int(props.get("MainPID") or 0) or None
    detail = props.get("SubState", "")
    restarts = props.get("NRestarts")
    if restarts and restarts != "0":
        detail += f", restarted {restarts} time(s)"
    return ManagerView(props.get("ActiveState", "unknown"), detail, pid)


def launchd_view() -> ManagerView:
    try:
        out = run_manager(["launchctl", "print", f"gui/{os.getuid()}/{AGENT_LABEL}"])
    except ServiceError:
        return ManagerView("not-installed", "run `foreman service install`")
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in out.splitlines())
        if value
    )
    pid = int(fields["pid"]) if fields.get("pid", "").isdigit() else None
    return ManagerView("active" if pid else "inactive", fields.get("state", ""), pid)


def lingering(user: str) -> bool | None:
    """Whether systemd keeps this user's services running after logout; None if unknown."""
    try:
        done = subprocess.run(
            ["loginctl", "show-user", user, "--property=Linger"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() == "Linger=yes"

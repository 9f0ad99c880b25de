"""`foreman service …` against a stand-in `systemctl` on PATH that records its calls."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from inline_snapshot import snapshot

from assistant.cli import cli
from tests.onboarding.standin_manager import Manager
from tests.workspaces import ai_workspace


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace holding foreman.toml, the current directory; a fresh config home."""
    root = ai_workspace(tmp_path / "ws", "# Projects\n\n```yaml\nprojects: []\n```\n")
    (root / "foreman.toml").write_text('[telegram]\ntoken = "1:x"\nallowed_users = [42]\n')
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FOREMAN_SERVICE_MANAGER", raising=False)
    monkeypatch.setenv("LOGNAME", "ada")  # whose lingering the hint names
    return tmp_path


@pytest.fixture
def manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Manager:
    return Manager(tmp_path, monkeypatch)


def service(*args: str) -> Result:
    return CliRunner().invoke(cli, ["service", *args])


def normal(text: str, home: Path) -> str:
    return text.replace(sys.executable, "<python>").replace(str(home), "<tmp>")


def test_install_print_shows_the_unit_and_writes_nothing(home: Path, manager: Manager) -> None:
    result = service("install", "--print")
    assert result.exit_code == 0, result.output
    assert normal(result.stdout, home) == snapshot("""\
# Written by `foreman service install`; `foreman service uninstall` removes it.
[Unit]
Description=Foreman gateway: chat channels, assistant and relay
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
WorkingDirectory=<tmp>/ws
EnvironmentFile=-<tmp>/ws/foreman.env
Environment=FOREMAN_CONFIG=<tmp>/ws/foreman.toml
Environment=FOREMAN_STATE_DIR=<tmp>/state
Environment=PYTHONUNBUFFERED=1
ExecStart=<python> -m assistant serve --config <tmp>/ws/foreman.toml
Restart=on-failure
RestartSec=5
TimeoutStopSec=30

[Install]
WantedBy=default.target
""")
    assert not (home / "config").exists()
    assert manager.calls() == []


def test_install_writes_the_unit_into_the_config_home_enables_and_starts_it(
    home: Path, manager: Manager
) -> None:
    result = service("install")
    assert result.exit_code == 0, result.output
    assert normal(result.stdout, home) == snapshot("""\
Installed <tmp>/config/systemd/user/foreman.service: the gateway runs now, and again after a failure.
No foreman.env beside foreman.toml: without a model key the assistant answers slash commands only (`foreman setup model` adds one).
It stops when you log out: to keep it running (and start it at boot), run: loginctl enable-linger ada
Logs: journalctl --user -u foreman.service -f
Health: foreman service status
""")
    unit = home / "config" / "systemd" / "user" / "foreman.service"
    assert "Restart=on-failure" in unit.read_text()
    assert manager.calls() == [
        "systemctl --user daemon-reload",
        "systemctl --user enable --now foreman.service",
        "loginctl show-user ada --property=Linger",
    ]
    if shutil.which("systemd-analyze"):
        # `verify` on a copy: the unit's own name and directives, checked by systemd itself
        verified = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True
        )
        assert verified.returncode == 0, verified.stderr

    for action, said in [("stop", "Stopped"), ("start", "Started"), ("restart", "Restarted")]:
        result = service(action)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{said}; see `foreman service status`.\n"
        assert manager.calls() == [f"systemctl --user {action} foreman.service"]

    result = service("uninstall")
    assert result.exit_code == 0
    assert not unit.exists()
    assert manager.calls() == [
        "systemctl --user disable --now foreman.service",
        "systemctl --user daemon-reload",
    ]


def test_commands_before_install_say_how_to_install(home: Path, manager: Manager) -> None:
    result = service("start")
    assert result.exit_code == 1
    assert normal(result.stderr, home) == snapshot(
        "Error: the service is not installed (<tmp>/config/systemd/user/foreman.service is missing): run `foreman service install`\n"
    )
    assert manager.calls() == []


def test_a_failing_systemctl_is_one_line(
    home: Path, manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_FAIL", "Failed to connect to bus: No medium found")
    result = service("install")
    assert result.exit_code == 1
    assert result.stderr == snapshot(
        "Error: `systemctl --user daemon-reload` failed: Failed to connect to bus: No medium found\n"
    )


def test_install_without_a_config_says_run_setup(
    home: Path, manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(home)
    result = service("install")
    assert result.exit_code == 1
    assert result.stderr == snapshot(
        "Error: no foreman.toml here: run `foreman setup` first, or pass --config FILE\n"
    )


def test_the_macos_launch_agent_runs_serve_with_the_environment_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREMAN_SERVICE_MANAGER", "launchd")
    result = service("install", "--print")
    assert result.exit_code == 0, result.output
    plist = plistlib.loads(result.stdout.encode())
    assert plist["Label"] == "dev.foreman.gateway"
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["WorkingDirectory"] == str(home / "ws")
    script = plist["ProgramArguments"][2]
    assert f". {home}/ws/foreman.env" in script
    assert script.endswith(
        f"exec {sys.executable} -m assistant serve --config {home}/ws/foreman.toml"
    )

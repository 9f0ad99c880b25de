"""`foreman service status` reading the health a running `foreman serve` writes."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from assistant.gateway import Health, read_health
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.test_serve_command import PROJECTLIST, read_until, start_serve
from tests.onboarding.standin_manager import Manager
from tests.workspaces import ai_workspace


def wait_for_health(state: Path, predicate, timeout: float = 30) -> Health:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        health = read_health(state)
        if health is not None and predicate(health):
            return health
        assert time.monotonic() < deadline, f"health never matched: {health}"
        time.sleep(0.1)


def status_lines(text: str) -> str:
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", "<time>", text)
    text = re.sub(r"\d\d:\d\d:\d\d", "<time>", text)
    text = re.sub(r"pid \d+", "pid <pid>", text)
    return re.sub(r"written \d+ s ago", "written <n> s ago", text)


def test_status_shows_a_running_gateways_health_and_its_end(
    fake_telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = Manager(tmp_path, monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("FOREMAN_SERVICE_MANAGER", raising=False)
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    env = {
        **os.environ,
        "FOREMAN_WORKSPACE": str(workspace),
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": "42",
        "FOREMAN_STATE_DIR": str(state),
    }
    process, lines = start_serve(env)
    try:
        read_until(lines, "foreman serve: telegram")
        wait_for_health(state, lambda h: h.running)
        fake_telegram.dm(42, "/projects")
        fake_telegram.wait_for("sendMessage", lambda p: p["chat_id"] == "42")
        health = wait_for_health(state, lambda h: h.channels[0].last_inbound is not None)
        assert health.pid == process.pid

        manager.show_file.write_text(
            f"LoadState=loaded\nActiveState=active\nSubState=running\nMainPID={process.pid}\n"
            "NRestarts=0\n"
        )
        result = CliRunner().invoke(cli, ["service", "status"])
        assert result.exit_code == 0, result.output
        assert status_lines(result.stdout.replace(str(tmp_path), "<tmp>")) == snapshot("""\
service   active (running), pid <pid>; <tmp>/config/systemd/user/foreman.service
health    written <n> s ago by pid <pid>, up since <time> UTC
telegram  polling as @foreman_test_bot; last inbound <time> UTC
relay     off; assistant on; OpenCode not configured
cards     0 pending approval(s)
""")
        assert manager.calls() == [
            "systemctl --user show foreman.service "
            "--property=LoadState,ActiveState,SubState,MainPID,NRestarts"
        ]
        # written atomically: never a half file, and no temporary left beside it
        json.loads((state / "health.json").read_text())

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert sorted(p.name for p in state.iterdir() if "health" in p.name) == ["health.json"]
    manager.show_file.write_text("LoadState=loaded\nActiveState=inactive\nSubState=dead\n")
    result = CliRunner().invoke(cli, ["service", "status"])
    assert result.exit_code == 1
    assert status_lines(result.stdout.replace(str(tmp_path), "<tmp>")).splitlines()[:2] == snapshot(
        [
            "service   inactive (dead); <tmp>/config/systemd/user/foreman.service",
            "health    the gateway (pid <pid>) stopped at <time> UTC",
        ]
    )


def test_status_before_the_gateway_ever_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Manager(tmp_path, monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["service", "status"])
    assert result.exit_code == 1
    assert result.stdout.replace(str(tmp_path), "<tmp>") == snapshot("""\
service   not-installed (run `foreman service install`); <tmp>/config/systemd/user/foreman.service
health    none in <tmp>/state/health.json: the gateway has not run yet
""")

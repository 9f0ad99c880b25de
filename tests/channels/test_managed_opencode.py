"""`foreman serve` with no OpenCode URL runs its own `opencode serve`: the real binary, the fake
Bot API and the fake LLM; what the bound chats, the health line and `foreman doctor` show."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from assistant.doctor import CHECKS, DoctorContext
from assistant.gateway import build_serve_gateway, load_config, read_health
from assistant.relay import Binding, save_binding
from assistant.store import open_store
from tests.channels import waiting
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.test_serve_command import read_until, start_serve
from tests.opencode_server import FakeLLM, opencode_env, require_opencode_binary
from tools.orchestrator import make_demo_workspace

OWNER, GROUP, TOPIC = 42, -1001234, 77
BUILDER = "0099-managed-opencode"
REPO = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie is gone for every purpose


async def eventually(condition: Any, timeout: float = 60.0) -> None:
    """The shared wait, with the longer deadline a server restart needs under load."""
    await waiting.eventually(condition, timeout)


async def wait_for(fake: FakeTelegram, method: str, predicate: Any, timeout: float = 90) -> dict:
    return await asyncio.to_thread(fake.wait_for, method, predicate, timeout)


def use_managed_opencode(monkeypatch: pytest.MonkeyPatch, home: Path, llm: FakeLLM) -> None:
    """What a user's machine has: the fake LLM in OpenCode's own config lookup (XDG dirs,
    OPENCODE_CONFIG_CONTENT), no FOREMAN_OPENCODE_URL, management on (the default)."""
    require_opencode_binary()
    for name, value in opencode_env(home, llm.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FOREMAN_OPENCODE_MANAGE", raising=False)
    monkeypatch.delenv("FOREMAN_OPENCODE_URL", raising=False)


@pytest.mark.opencode
async def test_serve_runs_its_own_opencode_restarts_it_telling_the_bound_chat_and_stops_it(
    fake_telegram: FakeTelegram,
    fake_llm: FakeLLM,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_managed_opencode(monkeypatch, tmp_path / "home", fake_llm)
    workspace = make_demo_workspace(tmp_path / "ws")
    (workspace.root / ".builders" / BUILDER).mkdir(parents=True)
    store = open_store(tmp_path / "state")
    save_binding(store, Binding("telegram", str(GROUP), BUILDER, thread_id=str(TOPIC)), "test")
    config = load_config(
        None,
        env={
            "FOREMAN_WORKSPACE": str(workspace.root),
            "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
            "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
            "FOREMAN_TELEGRAM_ALLOWED_USERS": str(OWNER),
        },
    )
    gateway = build_serve_gateway(config, store)
    await gateway.start()
    pids: list[int] = []
    try:
        line = gateway.health_line()
        assert "relay on" in line
        managed = line.rsplit(" · ", 1)[-1]
        assert managed.startswith("opencode managed (pid ") and "http://127.0.0.1:" in managed
        pids.append(int(managed.split("pid ", 1)[1].split(",", 1)[0]))

        # a builder's turn goes through the server Foreman started
        fake_telegram.group_message(GROUP, OWNER, "Say hello", thread_id=TOPIC)
        # the Done takes the place of the turn's Started message (Telegram edits)
        done = await wait_for(fake_telegram, "editMessageText", lambda p: "✅" in p["text"])
        assert done["text"].startswith("✅ Done\nHello from fake LLM")

        os.killpg(pids[0], signal.SIGKILL)  # the server crashes
        notice = await wait_for(
            fake_telegram,
            "sendMessage",
            lambda p: "🔁" in p["text"] and p.get("message_thread_id") == str(TOPIC),
        )
        assert notice["text"] == snapshot(
            "🔁 OpenCode stopped and was restarted; builders' sessions continue (a turn that was running was interrupted: send it again)."
        )
        # every bound chat hears it once: this topic, and the demo project's declared group
        told = [p["chat_id"] for p in fake_telegram.sent() if "🔁" in p["text"]]
        assert sorted(told) == sorted([str(GROUP), "-1001234567890"])

        # the relay found it again: the next message is answered in the same session
        fake_telegram.group_message(GROUP, OWNER, "Say hello again", thread_id=TOPIC)
        await wait_for(
            fake_telegram, "editMessageText", lambda p: "✅" in p["text"] and p is not done
        )
        assert len([p for p in fake_telegram.sent("editMessageText") if "✅" in p["text"]]) == 2

        # doctor sees what the running gateway wrote
        state_dir = tmp_path / "state"

        def restarted_once() -> bool:
            health = read_health(state_dir)
            return health is not None and health.opencode_restarts == 1

        await eventually(restarted_once)
        health = read_health(state_dir)
        assert health is not None and health.opencode_pid is not None
        pids.append(health.opencode_pid)
        assert health.opencode_pid != pids[0] and health.opencode == "reachable"
        monkeypatch.setenv("FOREMAN_TELEGRAM_TOKEN", fake_telegram.token)  # serve's config
        (check,) = CHECKS["opencode srv"](DoctorContext(state_dir=state_dir))
        assert check.ok
        assert check.detail == (
            f"managed by foreman serve: running, pid {pids[1]} on {health.opencode_url}, "
            f"restarted 1×; log {state_dir}/opencode.log"
        )
    finally:
        await gateway.stop()
    assert not any(alive(pid) for pid in pids)


@pytest.mark.opencode
def test_serve_stopped_by_sigterm_leaves_no_opencode_behind(
    fake_telegram: FakeTelegram, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    require_opencode_binary()
    workspace = make_demo_workspace(tmp_path / "ws")
    env = {
        **opencode_env(tmp_path / "home", fake_llm.url),
        "FOREMAN_WORKSPACE": str(workspace.root),
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": str(OWNER),
        "FOREMAN_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("FOREMAN_OPENCODE_MANAGE", None)
    process, lines = start_serve(env)
    try:
        health, _ = read_until(lines, "foreman serve: telegram", timeout=90)
        pid = int(health.split("opencode managed (pid ", 1)[1].split(",", 1)[0])
        assert alive(pid)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _, rest = read_until(lines, "foreman serve: stopped", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not alive(pid)
    transcript = "\n".join([health, *rest])
    assert "Traceback" not in transcript and "opencode server listening" not in transcript


def test_serve_whose_opencode_fails_to_start_says_so_in_one_line(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    workspace = make_demo_workspace(tmp_path / "ws")
    broken = tmp_path / "opencode"
    broken.write_text("#!/bin/sh\necho 'Error: EACCES: permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    env = {
        **os.environ,
        "FOREMAN_WORKSPACE": str(workspace.root),
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": str(OWNER),
        "FOREMAN_STATE_DIR": str(tmp_path / "state"),
        "FOREMAN_OPENCODE_BIN": str(broken),
    }
    env.pop("FOREMAN_OPENCODE_MANAGE", None)
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "serve"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.replace(str(tmp_path), "TMP") == snapshot(
        "Error: OpenCode (TMP/opencode) exited at start with code 1; its output is in TMP/state/opencode.log (or set FOREMAN_OPENCODE_URL to a server of your own)\n"
    )
    assert "permission denied" in (tmp_path / "state" / "opencode.log").read_text()


def test_serve_without_an_opencode_binary_says_so_on_its_health_line(
    fake_telegram: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FOREMAN_OPENCODE_MANAGE")
    monkeypatch.setenv("FOREMAN_OPENCODE_BIN", str(tmp_path / "no-such-opencode"))
    workspace = make_demo_workspace(tmp_path / "ws")
    config = load_config(
        None,
        env={
            "FOREMAN_WORKSPACE": str(workspace.root),
            "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
            "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        },
    )
    gateway = build_serve_gateway(config, open_store(tmp_path / "state"))
    assert gateway.relay_runner is None
    assert gateway.health_line().split(" · ")[1:3] == snapshot(["assistant on", "relay off"])
    assert gateway.health_line().endswith(
        " · opencode not found (install opencode-ai or set FOREMAN_OPENCODE_URL)"
    )
    monkeypatch.setenv("FOREMAN_TELEGRAM_TOKEN", fake_telegram.token)
    monkeypatch.setenv("FOREMAN_TELEGRAM_BASE_URL", fake_telegram.base_url)
    result = CliRunner().invoke(cli, ["doctor", "--json"])
    (check,) = [c for c in json.loads(result.output)["checks"] if c["name"] == "opencode srv"]
    assert check["detail"] == snapshot(
        "none: no opencode binary (FOREMAN_OPENCODE_BIN, PATH) and no FOREMAN_OPENCODE_URL; install it with `npm install -g opencode-ai`"
    )
    assert check["warning"] is True


def test_doctor_warns_about_a_configured_server_without_a_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FOREMAN_OPENCODE_URL", "http://127.0.0.1:4096")
    monkeypatch.delenv("FOREMAN_OPENCODE_PASSWORD", raising=False)
    monkeypatch.delenv("OPENCODE_SERVER_PASSWORD", raising=False)
    result = CliRunner().invoke(cli, ["doctor"])
    (line,) = [line for line in result.output.splitlines() if "opencode srv" in line]
    assert line == snapshot(
        "warn  opencode srv  http://127.0.0.1:4096 is used without a password (configured explicitly): anyone who reaches it can run commands as you; set FOREMAN_OPENCODE_PASSWORD"
    )

    monkeypatch.setenv("FOREMAN_OPENCODE_PASSWORD", "s3cret")
    result = CliRunner().invoke(cli, ["doctor"])
    (line,) = [line for line in result.output.splitlines() if "opencode srv" in line]
    assert line.startswith("ok ")
    assert line.endswith("opencode srv  configured: http://127.0.0.1:4096, with a password")
    assert "s3cret" not in result.output

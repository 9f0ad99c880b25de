"""`foreman serve` as a real subprocess, with Telegram pointed at the fake Bot API server."""

from __future__ import annotations

import os
import queue
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from tests.channels.fake_telegram import FakeTelegram
from tests.workspaces import ai_workspace

REPO = Path(__file__).resolve().parents[2]


def start_serve(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def read_until(lines: queue.Queue[str], prefix: str, timeout: float = 30) -> tuple[str, list[str]]:
    seen: list[str] = []
    while True:
        line = lines.get(timeout=timeout)
        seen.append(line)
        if line.startswith(prefix):
            return line, seen


PROJECTLIST = """\
# Projects

```yaml
projects:
  - id: "0001"
    title: "Auth rework"
    status: planned
```
"""


def test_serve_starts_prints_health_and_stops_cleanly_on_sigterm(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    env = {
        "FOREMAN_WORKSPACE": str(workspace),
        **os.environ,
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": "42",
        "FOREMAN_STATE_DIR": str(tmp_path / "state"),
        "FOREMAN_PAIRING": "on",
    }
    process, lines = start_serve(env, "--verbose")
    try:
        health, _ = read_until(lines, "foreman serve: telegram")
        assert health.startswith("foreman serve: telegram polling as @foreman_test_bot")
        assert "1 allow-listed · pairing on" in health
        # it is really polling: a stranger's DM gets the pairing text back
        fake_telegram.dm(666, "hello")
        reply = fake_telegram.wait_for("sendMessage")
        assert reply["chat_id"] == "666" and "Pairing code:" in reply["text"]
        # and the principal's DM reaches the real assistant (a command: no model needed)
        fake_telegram.dm(42, "/projects")
        table = fake_telegram.wait_for("sendMessage", lambda p: p["chat_id"] == "42")
        assert "0001" in table["text"] and "Auth rework" in table["text"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _, rest = read_until(lines, "foreman serve: stopped", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "foreman serve: stopping" in rest
    transcript = "\n".join(rest)
    assert fake_telegram.token not in transcript
    assert "Traceback" not in transcript


def test_serve_refuses_a_bad_config_naming_key_and_line(tmp_path: Path) -> None:
    config = tmp_path / "foreman.toml"
    config.write_text('[telegram]\ntoken = "1:x"\nallowed_users = ["ada"]\n')
    result = CliRunner().invoke(cli, ["serve", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.replace(str(tmp_path), "DIR") == snapshot(
        "Error: DIR/foreman.toml:3: telegram.allowed_users: 'ada' is not a numeric Telegram user id\n"
    )


def test_serve_without_a_workspace_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["serve"],
        env={"FOREMAN_TELEGRAM_TOKEN": "1:x", "FOREMAN_WORKSPACE": str(tmp_path / "none")},
    )
    assert result.exit_code == 1
    assert result.output.replace(str(tmp_path), "DIR") == snapshot(
        "Error: FOREMAN_WORKSPACE DIR/none: no such directory\n"
    )


def test_serve_refuses_a_bad_status_interval_naming_the_variable(tmp_path: Path) -> None:
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    env = {
        "FOREMAN_TELEGRAM_TOKEN": "1:x",
        "FOREMAN_WORKSPACE": str(workspace),
        "FOREMAN_OPENCODE_URL": "http://127.0.0.1:9",
        "FOREMAN_STATE_DIR": str(tmp_path / "state"),
        "FOREMAN_STATUS_SECONDS": "soon",
    }
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert (result.exit_code, result.output) == (
        1,
        snapshot(
            "Error: FOREMAN_STATUS_SECONDS must be a positive number of seconds, got 'soon'\n"
        ),
    )


def test_serve_without_any_channel_says_how_to_configure_one() -> None:
    result = CliRunner().invoke(cli, ["serve"], env={"FOREMAN_TELEGRAM_TOKEN": None})
    assert result.exit_code == 1
    assert result.output == snapshot(
        "Error: no chat channel configured: set FOREMAN_TELEGRAM_TOKEN (or [telegram] token) or FOREMAN_WHATSAPP_DB (or [whatsapp] db)\n"
    )


def test_serve_with_a_refused_token_stops_with_a_clear_error(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    env = {
        "FOREMAN_WORKSPACE": str(workspace),
        "FOREMAN_TELEGRAM_TOKEN": "999:WRONG-TOKEN",
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
    }
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 1
    assert result.output == snapshot(
        "Error: telegram: the bot token was refused (check FOREMAN_TELEGRAM_TOKEN)\n"
    )


def test_serve_with_an_unlinked_whatsapp_runs_the_rest_and_tells_the_principal_on_telegram(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    # the real neonize and Go library: nothing is connected, so nothing reaches WhatsApp
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    session = tmp_path / "state" / "whatsapp.db"
    env = {
        **os.environ,
        "FOREMAN_WORKSPACE": str(workspace),
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": "42",
        "FOREMAN_WHATSAPP_DB": str(session),
        "FOREMAN_WHATSAPP_ALLOWED": "+49 170 1234567",
        "FOREMAN_STATE_DIR": str(tmp_path / "state"),
    }
    process, lines = start_serve(env)
    try:
        health, before = read_until(lines, "foreman serve: telegram")
        told = fake_telegram.wait_for("sendMessage", lambda p: p["chat_id"] == "42")
        fake_telegram.dm(42, "/projects")  # the rest of the gateway runs
        table = fake_telegram.wait_for("sendMessage", lambda p: "Auth rework" in p["text"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _, rest = read_until(lines, "foreman serve: stopped", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (
        "whatsapp not linked — WhatsApp is not linked: run `foreman whatsapp login` "
        f"({session})" in health
    )
    assert told["text"] == (
        f"⚠️ whatsapp: WhatsApp is not linked: run `foreman whatsapp login` ({session})"
    )
    assert table["chat_id"] == "42"
    transcript = "\n".join(before + rest)
    assert "Scan" not in transcript and "█" not in transcript  # no QR flow in the background
    assert "Traceback" not in transcript
    assert stat.S_IMODE(session.stat().st_mode) == 0o600

"""A Bot API outage seen from `foreman serve`: one line when it starts, one when it ends."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from inline_snapshot import snapshot

from tests.channels.fake_telegram import FakeTelegram
from tests.channels.test_serve_command import PROJECTLIST, read_until, start_serve
from tests.workspaces import ai_workspace


def test_an_outage_is_two_log_lines_and_no_traceback(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    # the Bot API answers getUpdates with 502s for a while (python-telegram-bot backs off
    # 1 s, then 1.5 s, ...), then recovers
    fake_telegram.failures["getUpdates"] = [(502, "Bad Gateway", None)] * 2
    env = {
        **os.environ,
        "FOREMAN_WORKSPACE": str(workspace),
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": "42",
    }
    process, lines = start_serve(env)  # without -v, as a user runs it
    try:
        read_until(lines, "foreman serve: telegram")
        _, during = read_until(lines, "", timeout=30)
        _, after = read_until(lines, "", timeout=30)
        fake_telegram.dm(42, "/projects")
        fake_telegram.wait_for("sendMessage", lambda p: p["chat_id"] == "42")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        _, rest = read_until(lines, "foreman serve: stopped", timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    logged = [
        re.sub(r"after \d+ s", "after N s", line.split(" ", 3)[-1]) for line in during + after
    ]
    assert logged == snapshot(
        [
            "foreman.channels.telegram: telegram: cannot reach the Bot API (NetworkError: Bad Gateway); retrying with backoff",
            "foreman.channels.telegram: telegram: the Bot API is reachable again (after N s)",
        ]
    )
    assert not [line for line in rest if "Traceback" in line or "telegram" in line.lower()]

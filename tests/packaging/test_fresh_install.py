"""A new user's install: `pip install foreman-assistant` into an empty virtualenv, then serve.

The one test here creates a virtualenv and lets pip fetch the dependencies from the package
index (or its cache), so it takes tens of seconds; it carries the `install` marker.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.channels.fake_telegram import FakeTelegram
from tests.workspaces import ai_workspace

PROJECTLIST = """\
# Projects

```yaml
projects:
  - id: "0001"
    title: "Auth rework"
    status: planned
```
"""


@pytest.fixture
def fake_telegram() -> FakeTelegram:
    fake = FakeTelegram().start()
    yield fake  # type: ignore[misc]
    fake.close()


@pytest.mark.install
def test_the_base_install_serves_telegram_and_loads_whatsapp(
    wheel: Path, tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # no extras: what the README's Quick start and `pip install foreman-assistant` give
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    # the WhatsApp channel's libraries are there too (loading neonize loads its Go library)
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import neonize.aioze.client, segno, telegram.ext"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr

    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FOREMAN_", "PYTHON"))},
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": "42",
        "FOREMAN_STATE_DIR": str(tmp_path / "state"),
    }
    process = subprocess.Popen(
        [str(venv / "bin" / "foreman"), "serve"],
        cwd=workspace,
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
    try:
        first = lines.get(timeout=60)
        assert first.startswith("foreman serve: telegram polling as @foreman_test_bot"), first
        fake_telegram.dm(42, "/projects")
        table = fake_telegram.wait_for("sendMessage", lambda p: p["chat_id"] == "42")
        assert "0001" in table["text"] and "Auth rework" in table["text"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert not [line for line in rest if "Traceback" in line], rest

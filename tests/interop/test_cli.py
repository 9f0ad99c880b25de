"""`foreman mcp` / `foreman a2a` as commands: argument and token errors, and a served A2A card."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.evals import demo_workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def workspace(tmp_path: Path) -> Any:
    return demo_workspace(tmp_path / "workspace")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a2a", "--http", "127.0.0.1:http"], "PORT must be a number from 1 to 65535"),
        (["mcp", "--http", "127.0.0.1:70000"], "PORT must be a number from 1 to 65535"),
        (["a2a", "--http", "127.0.0.1:8766"], "set FOREMAN_A2A_TOKEN or FOREMAN_MCP_TOKEN"),
        (["mcp", "--approver", "pigeon:42"], "approver 'pigeon:42' must be PLATFORM:USER_ID"),
    ],
)
def test_bad_invocations_say_what_is_wrong(
    args: list[str], message: str, workspace: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("FOREMAN_A2A_TOKEN", "FOREMAN_MCP_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    result = CliRunner().invoke(cli, [*args, "--workspace", str(workspace.root)])
    assert result.exit_code == 1
    assert message in result.output


def test_a2a_command_serves_its_card(workspace: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assistant",
            "a2a",
            "--http",
            f"127.0.0.1:{port}",
            "--workspace",
            str(workspace.root),
        ],
        cwd=REPO,
        env=dict(os.environ, FOREMAN_A2A_TOKEN="t0k"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        card = None
        while card is None and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            try:
                card = httpx.get(f"http://127.0.0.1:{port}/.well-known/agent-card.json").json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert card is not None
        assert card["supportedInterfaces"][0]["url"] == f"http://127.0.0.1:{port}/"
        denied = httpx.post(f"http://127.0.0.1:{port}/", json={"jsonrpc": "2.0", "id": 1})
        assert denied.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)

"""`foreman mcp` / `foreman a2a` as commands: argument and token errors, and a served A2A card."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.helpers import new_text_message
from a2a.types.a2a_pb2 import Role, SendMessageRequest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.evals import demo_workspace
from assistant.interop import public_url

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


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
async def test_a2a_command_serves_a_card_whose_url_the_official_client_can_use(
    host: str, workspace: Any
) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host.strip("[]"), 0))
        port = sock.getsockname()[1]
    url = f"http://{host}:{port}/"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assistant",
            "a2a",
            "--http",
            f"{host}:{port}",
            "--model",
            "offline",
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
        card = None
        async with httpx.AsyncClient(headers={"Authorization": "Bearer t0k"}) as http:
            deadline = time.monotonic() + 60
            while card is None and time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read()
                try:
                    card = (await http.get(f"{url}.well-known/agent-card.json")).json()
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert card is not None
            assert card["supportedInterfaces"][0]["url"] == url
            denied = await http.post(
                url, json={"jsonrpc": "2.0", "id": 1}, headers={"Authorization": ""}
            )
            assert denied.status_code == 401
            # the client reads the card and sends to the URL it advertises
            client = await create_client(url, ClientConfig(httpx_client=http, streaming=False))
            message = new_text_message("show me all projects", role=Role.ROLE_USER)
            [sent] = [e async for e in client.send_message(SendMessageRequest(message=message))]
            assert sent.task.id
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8766/"),
        ("::1", "http://[::1]:8766/"),
        ("fe80::1", "http://[fe80::1]:8766/"),
        ("0.0.0.0", f"http://{socket.gethostname()}:8766/"),
        ("::", f"http://{socket.gethostname()}:8766/"),
    ],
)
def test_advertised_urls_are_valid_for_every_bind(host: str, url: str) -> None:
    assert public_url(host, 8766) == url
    assert urlsplit(url).port == 8766

"""MCP over HTTP with the official MCP Python SDK client: identity, ids, token and Origin checks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client

from assistant import __version__
from assistant.dm import DirectMessages
from assistant.interop import Bridge
from assistant.interop.mcp import build_mcp_server, http_app
from assistant.messages import Principal
from tests.interop.conftest import HUMAN
from tests.opencode_server import free_port

CALLER = Principal("mcp", "client")
TOKEN = "mcp-http-test-token"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "browser-page", "version": "0"},
    },
}


@pytest.fixture
async def url(service: DirectMessages, workspace: Any) -> AsyncIterator[str]:
    bridge = Bridge(service=service, workspace=workspace, approver=HUMAN)
    app = http_app(build_mcp_server(bridge, caller=CALLER), TOKEN)
    port = free_port()
    # the client shares this event loop: a turn that holds the loop for seconds under load
    # must not let uvicorn's 5 s keep-alive close the client's pooled connection mid-test
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=120
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the MCP server did not start"
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    await serving


async def _call(
    url: str, token: str | None, *calls: tuple[str, dict[str, Any]]
) -> tuple[Any, list[Any]]:
    """Initialize with the SDK client, then call each tool; the server's identity and results."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        initialized = await session.initialize()
        results = [await session.call_tool(name, args) for name, args in calls]
    return initialized.server_info, results


async def test_the_sdk_client_meets_foreman_by_name_and_finds_projects_by_short_id(
    url: str, service: DirectMessages
) -> None:
    info, [shown, status, builder, unknown] = await _call(
        url,
        TOKEN,
        ("get_project", {"id": "14"}),
        ("request_status_change", {"id": "15", "status": "implementing"}),
        ("request_builder_create", {"project_id": "015"}),
        ("get_project", {"id": "99"}),
    )
    assert (info.name, info.version) == ("foreman", __version__)
    assert shown.structured_content["id"] == "0014"
    assert status.structured_content["args"]["id"] == "0015"
    assert status.structured_content["card"].startswith("Set 0015 ")
    assert builder.structured_content["args"]["project_id"] == "0015"
    assert service.approval(builder.structured_content["approval_id"]).state == "pending"
    assert unknown.is_error
    assert "no project '99'" in unknown.content[0].text and "0014" in unknown.content[0].text


@pytest.mark.parametrize("token", ["wrong-token", None])
async def test_a_wrong_token_is_reported_as_one_not_as_an_oauth_challenge(
    url: str, token: str | None
) -> None:
    # what the SDK client hands its caller: the server's sentence, not a status stand-in
    sentence = r"^missing or wrong bearer token: send Authorization: Bearer \$FOREMAN_MCP_TOKEN$"
    with pytest.RaisesGroup(pytest.RaisesExc(MCPError, match=sentence), flatten_subgroups=True):
        await _call(url, token)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json=INITIALIZE, headers=headers)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="foreman", error="invalid_token"')
    assert "resource_metadata" not in challenge  # no OAuth for a client to go looking for


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 200),
        ("http://localhost:6274", 200),
        ("http://127.0.0.1:5173", 200),
        ("http://[::1]:8080", 200),
        ("https://evil.example", 403),
        ("http://localhost.evil.example", 403),
        ("null", 403),
    ],
)
async def test_only_pages_on_this_machine_may_call(
    url: str, origin: str | None, status: int
) -> None:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/json, text/event-stream",
    }
    if origin is not None:
        headers["Origin"] = origin
    async with httpx.AsyncClient() as http:
        response = await http.post(url, json=INITIALIZE, headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert json.loads(response.text)["error"]["message"] == (
            f"requests from the web origin {origin} are not allowed"
        )

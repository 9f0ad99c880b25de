"""Builders with a real `opencode serve` (driven by the fake LLM): sessions found by directory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.opencode_server import FakeLLM, OpenCodeProcess, ToolCall
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator
from tools.workspace import Workspace


@pytest.fixture
async def client(opencode_server: OpenCodeProcess) -> AsyncIterator[OpenCodeClient]:
    async with OpenCodeClient(opencode_server.url, password=opencode_server.password) as c:
        yield c


async def until(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_created_builder_has_a_session_in_its_directory(
    workspace: Workspace, client: OpenCodeClient, fake_llm: FakeLLM
):
    orch = Orchestrator(workspace, opencode=client, backend="native")

    builder = await orch.create_builder("0015")

    assert builder.session is not None and builder.session_note == ""
    # found again by directory alone: nothing is stored
    found = await client.list_sessions(directory=str(builder.path))
    assert [s.id for s in found] == [builder.session.id]
    assert found[0].title == "0015-new-feature"
    status = await orch.builder_status(builder.name)
    assert status.session == builder.session
    assert orch.builder_path(builder.name) == builder.path
    # another builder's directory sees none of it
    other = await orch.create_builder("0014")
    assert other.session is not None and other.session.id != builder.session.id
    assert [s.id for s in await client.list_sessions(directory=str(other.path))] == [
        other.session.id
    ]

    # bash asks first (the builder's permission rule): the turn waits for a human
    fake_llm.script(ToolCall("bash", {"command": "touch made-by-agent", "description": "touch"}))
    await client.prompt_async(builder.session.id, "make a file")
    pending = await until(lambda: client.permissions(directory=str(builder.path)))
    assert [p.permission for p in pending] == ["bash"]
    assert not (builder.path / "made-by-agent").exists()
    assert (await orch.builder_status(builder.name)).session.status == "busy"  # type: ignore[union-attr]

    result = await orch.terminate_builder(builder.name)

    assert result.done and result.session_aborted
    assert result.session is not None and result.session.id == builder.session.id
    assert not builder.path.exists()
    # aborted, not deleted: its history is still there
    kept = await client.list_sessions(directory=str(builder.path))
    assert builder.session.id in [s.id for s in kept]
    assert await client.messages(builder.session.id, directory=str(builder.path))
    assert (await orch.terminate_builder(other.name)).session_aborted is False


async def test_unreachable_server_still_creates_the_builder(workspace: Workspace):
    async with OpenCodeClient("http://127.0.0.1:9") as nowhere:
        orch = Orchestrator(workspace, opencode=nowhere, backend="native")
        builder = await orch.create_builder("0015")
        status = await orch.builder_status(builder.name)

    assert builder.path.is_dir() and builder.session is None
    assert builder.session_note.startswith(
        "OpenCode session not started: OpenCode at http://127.0.0.1:9 unreachable"
    )
    assert status.session is None and "unreachable" in status.session_note

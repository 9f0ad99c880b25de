"""The OpenCode client against a real `opencode serve` (with a password) and a fake LLM."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.opencode_server import PASSWORD, FakeLLM, OpenCodeProcess, ToolCall
from tools.opencode import (
    Event,
    NotFound,
    OpenCodeClient,
    Resync,
    Unauthorized,
    find_opencode_binary,
    parse_event_data,
)

ASK_BASH = [{"permission": "bash", "pattern": "*", "action": "ask"}]


@pytest.fixture
async def client(opencode_server: OpenCodeProcess) -> AsyncIterator[OpenCodeClient]:
    async with OpenCodeClient(opencode_server.url, password=opencode_server.password) as c:
        yield c


async def next_matching(events: AsyncIterator[Event | Resync], predicate, timeout: float = 20):
    """Read events until one matches; return it with everything seen before it."""
    seen: list[Event | Resync] = []
    # asyncio.timeout keeps the generator in this task (wait_for would move it to another)
    async with asyncio.timeout(timeout):
        async for event in events:
            seen.append(event)
            if predicate(event):
                return event, seen
    raise AssertionError("stream ended")


def is_idle(session_id: str):
    return lambda e: e.type == "session.idle" and e.session_id == session_id


async def test_wrong_password_is_a_typed_error(opencode_server: OpenCodeProcess) -> None:
    async with OpenCodeClient(opencode_server.url, password="wrong") as bad:
        with pytest.raises(Unauthorized):
            await bad.health()
    async with OpenCodeClient(opencode_server.url, password=PASSWORD) as good:
        assert (await good.health())["healthy"] is True


async def test_sessions_are_listed_per_directory_newest_first(
    client: OpenCodeClient, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = await client.create_session(str(tmp_path / "a"), title="first")
    second = await client.create_session(str(tmp_path / "a"), title="second")
    await client.create_session(str(tmp_path / "b"), title="elsewhere")

    listed = await client.list_sessions(directory=str(tmp_path / "a"))
    assert [(s.id, s.title, s.directory) for s in listed] == [
        (second.id, "second", str(tmp_path / "a")),
        (first.id, "first", str(tmp_path / "a")),
    ]
    assert second.parent_id is None


async def test_unknown_session_raises_not_found_with_the_server_message(
    client: OpenCodeClient,
) -> None:
    with pytest.raises(NotFound) as info:
        await client.messages("ses_doesnotexist")
    assert "Session not found: ses_doesnotexist" in str(info.value)
    assert info.value.status == 404


async def test_prompt_async_answer_arrives_as_events(
    client: OpenCodeClient, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    session = await client.create_session(str(tmp_path), title="events")
    events = client.events(str(tmp_path))
    first, _ = await next_matching(events, lambda e: True)
    assert isinstance(first, Resync) and first.statuses == {} and not first.reconnect

    await client.prompt_async(session.id, "Say hello")
    _, seen = await next_matching(events, is_idle(session.id))
    types = [e.type for e in seen]
    assert "session.status" in types
    assert not {"sync", "server.heartbeat", "server.connected"} & set(types)
    texts = [
        e.properties["part"]["text"]
        for e in seen
        if e.type == "message.part.updated" and e.properties["part"]["type"] == "text"
    ]
    assert texts[-1] == "Hello from fake LLM"
    await events.aclose()

    messages = await client.messages(session.id, limit=2)
    assert [m["info"]["role"] for m in messages] == ["user", "assistant"]


async def test_no_reply_stores_context_without_a_model_call(
    client: OpenCodeClient, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    session = await client.create_session(str(tmp_path), title="context")
    await client.prompt_async(session.id, "Alice: the build is red", no_reply=True)
    await asyncio.sleep(0.3)
    assert fake_llm.requests == []
    messages = await client.messages(session.id)
    assert messages[-1]["parts"][0]["text"] == "Alice: the build is red"


async def test_permission_is_listed_then_approved(
    client: OpenCodeClient, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    session = await client.create_session(str(tmp_path), title="perm", permission=ASK_BASH)
    fake_llm.script(ToolCall("bash", {"command": "echo approved", "description": "echo"}))
    events = client.events(str(tmp_path))
    await next_matching(events, lambda e: isinstance(e, Resync))
    await client.prompt_async(session.id, "run it")
    asked, _ = await next_matching(events, lambda e: e.type == "permission.asked")

    pending = await client.permissions(str(tmp_path))
    assert [(p.id, p.permission, p.command) for p in pending] == [
        (asked.properties["id"], "bash", "echo approved")
    ]
    assert (await client.session_status(str(tmp_path)))[session.id].type == "busy"

    await client.reply_permission(pending[0].id, "once")
    _, seen = await next_matching(events, is_idle(session.id))
    outputs = [
        e.properties["part"]["state"].get("output")
        for e in seen
        if e.type == "message.part.updated"
        and e.properties["part"].get("tool") == "bash"
        and e.properties["part"]["state"]["status"] == "completed"
    ]
    assert outputs == ["approved\n"]
    assert await client.permissions(str(tmp_path)) == []
    await events.aclose()


async def test_question_is_listed_then_answered(
    client: OpenCodeClient, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    session = await client.create_session(str(tmp_path), title="question")
    question = {
        "questions": [
            {
                "question": "Which color?",
                "header": "Color",
                "options": [
                    {"label": "Red", "description": "r"},
                    {"label": "Blue", "description": "b"},
                ],
            }
        ]
    }
    fake_llm.script(ToolCall("question", question))
    events = client.events(str(tmp_path))
    await next_matching(events, lambda e: isinstance(e, Resync))
    await client.prompt_async(session.id, "ask me")
    await next_matching(events, lambda e: e.type == "question.asked")

    (pending,) = await client.questions(str(tmp_path))
    assert [o.label for o in pending.questions[0].options] == ["Red", "Blue"]
    await client.reply_question(pending.id, [["Blue"]])
    await next_matching(events, is_idle(session.id))
    assert "Blue" in fake_llm.texts()[-1]
    await events.aclose()


async def test_abort_stops_a_running_command_and_fork_copies_the_session(
    client: OpenCodeClient, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    session = await client.create_session(str(tmp_path), title="abort")
    fake_llm.script(ToolCall("bash", {"command": "sleep 30", "description": "wait"}))
    events = client.events(str(tmp_path))
    await next_matching(events, lambda e: isinstance(e, Resync))
    await client.prompt_async(session.id, "wait a while")
    await next_matching(
        events,
        lambda e: (
            e.type == "message.part.updated"
            and e.properties["part"].get("state", {}).get("status") == "running"
        ),
    )
    assert await client.abort(session.id) is True
    error, _ = await next_matching(events, lambda e: e.type == "session.error")
    assert error.properties["error"]["name"] == "MessageAbortedError"
    await events.aclose()

    fork = await client.fork(session.id)
    assert fork.id != session.id and fork.directory == str(tmp_path)


def test_global_stream_lines_drop_sync_and_keep_the_directory(corpus: Path) -> None:
    lines = (corpus / "opencode-1.18.33" / "global-event-stream.jsonl").read_text().splitlines()
    raw_types = [json.loads(line)["payload"]["type"] for line in lines]
    events = [e for e in map(parse_event_data, lines) if e is not None]
    assert "sync" in raw_types
    assert len(events) == len(lines) - raw_types.count("sync") - raw_types.count(
        "server.connected"
    ) - raw_types.count("server.heartbeat")
    assert {e.type for e in events}.isdisjoint({"sync", "server.heartbeat"})
    assert events[1].directory == "/srv/workspace/project"


def test_client_from_env_and_repr_never_show_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FOREMAN_OPENCODE_URL", raising=False)
    assert OpenCodeClient.from_env() is None
    monkeypatch.setenv("FOREMAN_OPENCODE_URL", "http://127.0.0.1:4096/")
    monkeypatch.setenv("FOREMAN_OPENCODE_PASSWORD", "s3cret-value")
    client = OpenCodeClient.from_env()
    assert client is not None
    assert client.base_url == "http://127.0.0.1:4096"
    assert "s3cret-value" not in repr(client)


def test_find_opencode_binary_prefers_the_env_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "opencode"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("FOREMAN_OPENCODE_BIN", str(fake))
    assert find_opencode_binary() == fake
    monkeypatch.setenv("FOREMAN_OPENCODE_BIN", str(tmp_path / "missing"))
    assert find_opencode_binary() is None
    monkeypatch.delenv("FOREMAN_OPENCODE_BIN")
    monkeypatch.setenv("PATH", os.defpath)
    found = find_opencode_binary()
    assert found is None or found.name == "opencode"

"""A malformed OpenCode event is skipped, logged once and counted; the relay goes on (issue 11,
item 6)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.cli import cli
from assistant.messages import Outbound
from assistant.relay import IDLE, Relay, classify, read_stream, replay
from assistant.store import open_store
from tests.relay.test_units import ALICE, BUILDER, PROJECTLIST
from tools.opencode import Event, MalformedEvent, OpenCodeClient, parse_event_data

SID = "ses_1"
DEEP = "[" * 100_000 + "]" * 100_000


def _event(type_: str, **props: object) -> str:
    return json.dumps({"type": type_, "properties": props})


# every shape of the campaign, as OpenCode's stream would carry it
ATTACKS = {
    "properties a string": json.dumps({"type": "session.idle", "properties": "x"}),
    "sessionID a list": _event("session.idle", sessionID=[SID]),
    "part a list": _event("message.part.updated", sessionID=SID, part=[1]),
    "metadata 7": _event(
        "message.part.updated",
        sessionID=SID,
        part={
            "id": "prt_1",
            "type": "tool",
            "tool": "bash",
            "state": {"status": "completed", "metadata": 7},
        },
    ),
    "options a string": _event(
        "question.asked",
        sessionID=SID,
        id="que_1",
        questions=[{"question": "q?", "header": "h", "options": "abc"}],
    ),
    "error a string": _event("session.error", sessionID=SID, error="boom"),
    "100,000 nested brackets": DEEP,
}
BUSY = _event("session.status", sessionID=SID, status={"type": "busy"})
IDLE_EVENT = _event("session.idle", sessionID=SID)


def _skips(line: str) -> bool:
    """True when the event is refused by the parser or by the classifier (as the relay does)."""
    try:
        event = parse_event_data(line)
        if event is None:
            return False
        classify(replace_busy(), event, retry_limit=3)
    except MalformedEvent:
        return True
    return False


def replace_busy():
    state, _ = classify(IDLE, parse_event_data(BUSY), retry_limit=3)  # type: ignore[arg-type]
    return state


@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_malformed_shape_is_refused_as_malformed_not_raised(name: str) -> None:
    assert _skips(ATTACKS[name])


def test_relay_replay_skips_malformed_events_and_goes_on(tmp_path: Path) -> None:
    capture = tmp_path / "hostile.jsonl"
    lines = [BUSY, *ATTACKS.values(), IDLE_EVENT]
    capture.write_text("\n".join(lines) + "\n")
    before = capture.read_bytes()

    result = CliRunner().invoke(cli, ["relay", "replay", str(capture)])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{SID} started 🔨 Started",
        f"{SID} error ❌ The turn ended without a finished reply.",
    ]
    assert result.stderr.startswith(f"Skipped {len(ATTACKS)} malformed event(s): line 2: ")
    assert len(result.stderr.splitlines()) == 1
    assert capture.read_bytes() == before


# a fake OpenCode over httpx's transport: a hostile server is a boundary nothing here reaches
def _fake_opencode(directory: str, stream: list[str]) -> httpx.MockTransport:
    calls = {"stream": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/global/event":
            calls["stream"] += 1
            if calls["stream"] > 1:
                return httpx.Response(503)
            body = "".join(
                f"data: {json.dumps({'directory': directory, 'payload': None})}\n\n"
                if line is None
                else f"data: {_global(line, directory)}\n\n"
                for line in stream
            )
            return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})
        if path == "/session":
            session = {"id": SID, "directory": directory, "title": BUILDER, "time": {}}
            return httpx.Response(200, json=[session])
        if path == "/session/status":
            return httpx.Response(200, json={})
        if path in ("/permission", "/question"):
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={})

    return httpx.MockTransport(handle)


def _global(line: str, directory: str) -> str:
    try:
        payload = json.loads(line)
    except (ValueError, RecursionError):
        return line  # not JSON, or too deep: sent as it is
    return json.dumps({"directory": directory, "payload": payload})


async def test_the_live_relay_skips_each_malformed_event_counts_it_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = tmp_path / "ws"
    (workspace / ".ai").mkdir(parents=True)
    (workspace / ".ai" / "projectlist.md").write_text(PROJECTLIST)
    (workspace / ".builders" / BUILDER).mkdir(parents=True)
    store = open_store(tmp_path / "state")
    probe = Relay(store, OpenCodeClient("http://127.0.0.1:9"), workspace, {ALICE.key})
    directory = probe.bound.directory(BUILDER)
    stream = [BUSY, *ATTACKS.values(), IDLE_EVENT]
    client = OpenCodeClient("http://opencode.test", transport=_fake_opencode(directory, stream))
    relay = Relay(store, client, workspace, {ALICE.key}, retry_limit=3)
    sent: list[Outbound] = []

    async def send(message: Outbound) -> str:
        sent.append(message)
        return str(len(sent))

    caplog.set_level(logging.WARNING)
    task = asyncio.create_task(relay.events.run(send))
    try:
        async with asyncio.timeout(20):
            while not any("without a finished reply" in m.text for m in sent):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert relay.malformed_events == len(ATTACKS)
    skipped = [r for r in caplog.records if "malformed OpenCode event" in r.getMessage()]
    assert len(skipped) == len(ATTACKS)
    assert [m.text.splitlines()[0] for m in sent][-2:] == [
        "🔨 Started",
        "❌ The turn ended without a finished reply.",
    ]
    store.close()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["sessionID", "part", "info", "status", "error", "questions", "todos", "id", "permission"]
)
TYPES = st.sampled_from(
    [
        "session.status",
        "session.idle",
        "session.error",
        "message.updated",
        "message.part.updated",
        "permission.asked",
        "question.asked",
        "todo.updated",
        "session.created",
    ]
)
PROPERTIES = st.dictionaries(KEYS, JSON, max_size=5) | JSON
EVENTS = st.builds(lambda t, p: {"type": t, "properties": p}, TYPES, PROPERTIES) | JSON


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENTS, max_size=8))
def test_the_classifier_never_raises_anything_but_malformed(events: list[object]) -> None:
    state = IDLE
    for raw in [json.loads(BUSY), *events]:
        try:
            event = parse_event_data(json.dumps(raw))
            if event is None:
                continue
            state, _ = classify(state, event, retry_limit=3)
        except MalformedEvent:
            continue


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENTS, max_size=8))
def test_relay_replay_never_raises_on_any_json_shape(tmp_path_factory, events) -> None:
    capture = tmp_path_factory.mktemp("replay") / "events.jsonl"
    capture.write_text("\n".join(json.dumps(e) for e in [json.loads(BUSY), *events]) + "\n")
    skipped: list[str] = []
    notifications = replay(read_stream(capture, skipped), retry_limit=3, skipped=skipped)
    assert notifications[0].kind == "started"
    result = CliRunner().invoke(cli, ["relay", "replay", str(capture)])
    assert result.exit_code == 0 and "Traceback" not in result.output


def test_an_event_of_the_right_shape_still_classifies() -> None:
    event = parse_event_data(BUSY)
    assert isinstance(event, Event)
    _, notification = classify(IDLE, event)
    assert notification is not None and notification.kind == "started"

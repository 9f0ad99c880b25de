"""A builder turn's status in Telegram: the Started message ticks with the elapsed time and the
running tool, at most once per interval, until the turn's end replaces it.

Real python-telegram-bot against the fake Bot API, the real relay, a real `opencode serve`
behind the fake LLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from assistant.gateway import Gateway, build_gateway, load_config, principal_keys
from assistant.relay import Binding, Relay, save_binding
from assistant.store import Store, open_store
from tests.channels.fake_telegram import FakeTelegram
from tests.opencode_server import FakeLLM, HttpError, OpenCodeProcess, ToolCall
from tools.opencode import OpenCodeClient
from tools.orchestrator import make_demo_workspace
from tools.workspace import Workspace

pytestmark = pytest.mark.opencode

OWNER, GROUP = 42, -1005551
BUILDER = "0099-status-e2e"
EVERY = 0.4  # the status interval under test (5 s in use)
TICK = re.compile(r"^⏱ (?:(\d+)m )?(\d+)s · (.+)$")


def bash(command: str) -> ToolCall:
    return ToolCall("bash", {"command": command, "description": "run"})


@pytest.fixture
def workspace(tmp_path: Any) -> Workspace:
    workspace = make_demo_workspace(tmp_path / "ws")
    (workspace.root / ".builders" / BUILDER).mkdir(parents=True)
    return workspace


@pytest.fixture
def store(tmp_path: Any) -> Store:
    return open_store(tmp_path / "state")


@contextlib.asynccontextmanager
async def serving(
    fake: FakeTelegram, server: OpenCodeProcess, workspace: Workspace, store: Store
) -> AsyncIterator[tuple[Gateway, Relay]]:
    save_binding(store, Binding("telegram", str(GROUP), BUILDER), "test")
    config = load_config(
        None,
        env={
            "FOREMAN_TELEGRAM_TOKEN": fake.token,
            "FOREMAN_TELEGRAM_BASE_URL": fake.base_url,
            "FOREMAN_TELEGRAM_ALLOWED_USERS": str(OWNER),
        },
    )
    client = OpenCodeClient(server.url, password=server.password)
    relay = Relay(
        store,
        client,
        workspace,
        principals=set(principal_keys(config, store)),
        status_every=EVERY,
    )
    gateway = build_gateway(config, store, relay=relay, closers=[client.aclose])
    await gateway.start()
    try:
        async with asyncio.timeout(60):
            await relay.listening.wait()
        yield gateway, relay
    finally:
        session_id = relay.current_session(BUILDER)
        if session_id:
            with contextlib.suppress(Exception):
                async with OpenCodeClient(server.url, password=server.password) as c:
                    await c.abort(session_id)
        await gateway.stop()


async def wait_for(fake: FakeTelegram, method: str, predicate: Any = lambda _: True) -> dict:
    return await asyncio.to_thread(fake.wait_for, method, predicate, 60.0)


def edits_of(fake: FakeTelegram, message_id: int) -> list[tuple[float, str]]:
    """(when, text) of every accepted edit of one message, in order."""
    return [
        (call.at, call.params["text"])
        for call in list(fake.calls)
        if call.method == "editMessageText"
        and str(call.params.get("message_id")) == str(message_id)
        and call.params.get("_ok")
    ]


def seconds(match: re.Match[str]) -> int:
    return int(match.group(1) or 0) * 60 + int(match.group(2))


async def test_a_slow_tool_ticks_in_the_started_message_and_the_end_replaces_it(
    fake_telegram: FakeTelegram,
    opencode_server: OpenCodeProcess,
    fake_llm: FakeLLM,
    workspace: Workspace,
    store: Store,
) -> None:
    async with serving(fake_telegram, opencode_server, workspace, store):
        # 1. a turn that runs a slow command, then answers: Done takes the status's place
        fake_llm.script(bash("sleep 3"), when="slow")
        fake_telegram.group_message(GROUP, OWNER, "Run the slow thing")
        started = await wait_for(fake_telegram, "sendMessage", lambda p: "🔨" in p["text"])
        assert started["disable_notification"] == "true"  # progress: no sound
        first = started["_result"]["message_id"]
        done = await wait_for(
            fake_telegram,
            "editMessageText",
            lambda p: p["message_id"] == str(first) and p["text"].startswith("✅"),
        )
        assert done["text"].startswith("✅ Done\nTool finished:")

        # 2. a turn that ends in an error: a new message rings, the status gets a last line
        fake_llm.script(bash("sleep 2"), HttpError(400, "bad request upstream"), when="fails")
        fake_telegram.group_message(GROUP, OWNER, "This one fails")
        error = await wait_for(fake_telegram, "sendMessage", lambda p: "❌" in p["text"])
        assert error.get("disable_notification") in (None, "false")  # needs you: it rings
        second = next(
            p["_result"]["message_id"]
            for p in fake_telegram.sent()
            if "🔨" in p["text"] and p["_result"]["message_id"] != first
        )
        last = await wait_for(
            fake_telegram,
            "editMessageText",
            lambda p: p["message_id"] == str(second) and p["text"].endswith("❌ see below"),
        )
        assert last["text"].startswith("🔨 Started: @ada: This one fails\n⏱ ")

    # the first status ticked while `sleep 3` ran, its time moving on, then became the Done
    edits = edits_of(fake_telegram, first)
    assert edits[-1][1] == done["text"]
    ticks = [(at, TICK.match(text.splitlines()[-1])) for at, text in edits[:-1]]
    assert ticks and all(match is not None for _, match in ticks)
    assert all(text.startswith("🔨 Started: @ada: Run the slow thing\n") for _, text in edits[:-1])
    shown = [match.group(3) for _, match in ticks if match]
    assert "bash: sleep 3" in shown
    elapsed = [seconds(match) for _, match in ticks if match]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 2
    # never more than one edit per interval (the fake records when each edit arrived)
    times = [at for at, _ in edits]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps[:-1], default=EVERY) >= EVERY * 0.75
    # an edit is spent only on a change: Telegram never had to refuse one as "not modified"
    assert not [c for c in fake_telegram.calls if c.params.get("_error")]
    # the Done was an edit, not a new message; nothing edited the first status after it
    assert not [p for p in fake_telegram.sent() if p["text"].startswith("✅")]

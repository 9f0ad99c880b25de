"""The assistant speaks to a builder: real `opencode serve`, a fake LLM, the real relay.

An approved `message_builder` reaches the builder's session; what the builder then does comes
back to the principal's DM with the builder's name first, or to its bound chat when it has one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from assistant.agent import offline_model
from assistant.dm import DirectMessages
from assistant.messages import ChatRef, Outbound
from assistant.relay import Binding, Relay, exchanges, save_binding
from assistant.store import Store, open_store
from tests.assistant.scripted_chat import ADA, ADA_DM, MALLORY, dm
from tests.opencode_server import FakeLLM, OpenCodeProcess, Text
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator, make_demo_workspace
from tools.workspace import Workspace

SEED = "start project 0015, and tell it to begin with the rate limiter"
BUILDER = "0015-new-feature"
GROUP = ChatRef("telegram", "-1005", is_direct=False)


@dataclass
class Setup:
    """The assistant and a running relay over one store; the relay's messages land in `sent`."""

    service: DirectMessages
    relay: Relay
    store: Store
    sent: asyncio.Queue[Outbound] = field(default_factory=asyncio.Queue)

    async def approve_all(self, cards: list[Outbound]) -> list[Outbound]:
        replies = []
        for card in cards:
            replies += await self.service.handle(dm(f"/approve {card.extra['approval_id']}"))
        return replies

    async def next_in(self, chat: ChatRef, kind: str, timeout: float = 60) -> Outbound:
        """The first notification of `kind` that reaches `chat` (others to it are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.sent.get()
                if message.chat.key == chat.key and message.extra["notification_kind"] == kind:
                    return message


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_demo_workspace(tmp_path / "ws")


@contextlib.asynccontextmanager
async def running(
    server: OpenCodeProcess, workspace: Workspace, state: Path
) -> AsyncIterator[Setup]:
    store = open_store(state)
    client = OpenCodeClient(server.url, password=server.password)
    service = DirectMessages(
        store,
        workspace,
        offline_model(),
        {ADA.key, MALLORY.key},
        orchestrator=Orchestrator(workspace, client),
    )
    relay = Relay(store, client, workspace, principals={ADA.key}, max_backoff=1.0)
    setup = Setup(service, relay, store)
    task = asyncio.create_task(relay.run(setup.sent.put))
    async with asyncio.timeout(60):
        await relay.listening.wait()
    try:
        yield setup
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for session in await client.list_sessions():
            with contextlib.suppress(Exception):
                await client.abort(session.id)
        await client.aclose()
        store.close()


async def test_start_and_tell_it_where_to_begin_reaches_the_session_and_reports_to_the_dm(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Workspace, tmp_path: Path
) -> None:
    fake_llm.script(Text("Rate limiter: token bucket first."), when="Begin with the rate limiter")
    async with running(opencode_server, workspace, tmp_path / "state") as setup:
        _said, *cards = await setup.service.handle(dm(SEED))
        assert [c.extra["tool"] for c in cards] == [
            "set_project_status",
            "create_builder",
            "message_builder",
        ]
        assert cards[2].text.splitlines()[1:3] == [
            f"Message builder {BUILDER} (once its create card is approved):",
            "│ Begin with the rate limiter.",
        ]

        # the stranger's approve sends nothing; the principal's three do
        [refused] = await setup.service.handle(
            dm(f"/approve {cards[2].extra['approval_id']}", sender=MALLORY)
        )
        assert refused.kind == "error"
        replies = await setup.approve_all(cards)
        assert [r.text.splitlines()[0] for r in replies] == [
            "✓ 0015: planned → implementing",
            f"✓ Builder {BUILDER} created at .builders/{BUILDER}",
            replies[2].text.splitlines()[0],
        ]
        assert replies[2].text.startswith(f"✓ Sent to {BUILDER} (OpenCode session ses_")

        done = await setup.next_in(ADA_DM, "complete")
        assert done.text == (
            f"{BUILDER}: ✅ Done\nRate limiter: token bucket first.\n"
            "💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)"
        )
        assert "Begin with the rate limiter." in fake_llm.texts()
        # the message was sent once, to the session the builder was created with
        asked = [t for t in fake_llm.texts() if "Begin with the rate limiter." in t]
        assert asked == ["Begin with the rate limiter."]
        await setup.relay.flush_history()
        [exchange] = exchanges(setup.store, BUILDER)
        assert exchange.prompt == "Begin with the rate limiter."


async def test_a_bound_builder_answers_in_its_chat_not_the_dm(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Workspace, tmp_path: Path
) -> None:
    fake_llm.script(Text("Tests are green."), when="Run the tests")
    client = OpenCodeClient(opencode_server.url, password=opencode_server.password)
    try:
        await Orchestrator(workspace, client).create_builder("0015")
    finally:
        await client.aclose()
    store = open_store(tmp_path / "state")
    save_binding(store, Binding("telegram", GROUP.chat_id, BUILDER), "test")
    store.close()
    async with running(opencode_server, workspace, tmp_path / "state") as setup:
        [card] = await setup.service.handle(dm(f"tell {BUILDER} to run the tests"))
        assert card.text.splitlines()[1:3] == [
            f"Message builder {BUILDER}:",
            "│ Run the tests.",
        ]
        [sent] = await setup.approve_all([card])
        assert sent.text.startswith(f"✓ Sent to {BUILDER}")
        done = await setup.next_in(GROUP, "complete")
        assert done.text == (
            "✅ Done\nTests are green.\n💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)"
        )
        # nothing of it reached the DM
        while not setup.sent.empty():
            assert setup.sent.get_nowait().chat.key != ADA_DM.key

"""What a bound chat sees around a builder turn, by what its platform can do: a status edited in
place where it can edit, Started and the final only where it cannot; and a line when the
builder's session is replaced or loses its context.

A real `opencode serve` behind the fake LLM; the chats are recorded where the gateway would
hand them to a channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from assistant.messages import ChatRef, Outbound, Principal
from assistant.relay import Binding, Relay, save_binding
from assistant.store import open_store
from tests.opencode_server import FakeLLM, OpenCodeProcess, ToolCall
from tools.opencode import OpenCodeClient

pytestmark = pytest.mark.opencode

BUILDER = "0014-status"
ALICE = Principal("telegram", "100", "Alice")
TELEGRAM = ChatRef("telegram", "-1001", is_direct=False)
WHATSAPP = ChatRef("whatsapp", "120363000000000001@g.us", is_direct=False)


class Chats:
    """Every message the relay sends, per chat, each given a message id as a channel would."""

    def __init__(self) -> None:
        self.sent: list[Outbound] = []
        self._ids = itertools.count(500)

    async def send(self, message: Outbound) -> str | None:
        self.sent.append(message)
        return message.replaces_message_id or str(next(self._ids))

    def of(self, chat: ChatRef) -> list[Outbound]:
        return [m for m in self.sent if m.chat.key == chat.key]

    def kinds(self, chat: ChatRef) -> list[str]:
        return [m.extra.get("notification_kind", m.kind) for m in self.of(chat)]

    async def until(self, condition: Callable[[], object], timeout: float = 60) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / ".builders" / BUILDER).mkdir(parents=True)
    (root / ".ai").mkdir()
    (root / ".ai" / "projectlist.md").write_text(
        '# Projects\n\n```yaml\nprojects:\n  - id: "0014"\n    title: Status\n'
        "    status: implementing\n```\n"
    )
    return root


@contextlib.asynccontextmanager
async def relaying(
    server: OpenCodeProcess, workspace: Path, tmp_path: Path, chats: list[ChatRef]
) -> AsyncIterator[tuple[Relay, Chats]]:
    store = open_store(tmp_path / "state")
    for chat in chats:
        save_binding(store, Binding(chat.platform, chat.chat_id, BUILDER), "test")
    relay = Relay(
        store,
        OpenCodeClient(server.url, password=server.password),
        workspace,
        principals={ALICE.key},
        status_every=0.3,
        max_backoff=1.0,
    )
    relay.live_edits = lambda chat: chat.platform == "telegram"  # as the gateway says
    recorded = Chats()
    task = asyncio.create_task(relay.run(recorded.send))
    try:
        async with asyncio.timeout(60):
            await relay.listening.wait()
        yield relay, recorded
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        session_id = relay.current_session(BUILDER)
        if session_id:
            with contextlib.suppress(Exception):
                await relay.opencode.abort(session_id)
        await relay.opencode.aclose()
        store.close()


async def test_a_status_ticks_only_where_the_platform_can_edit(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    async with relaying(opencode_server, workspace, tmp_path, [TELEGRAM, WHATSAPP]) as (
        relay,
        chats,
    ):
        session_id = await relay.session_for(BUILDER)
        assert session_id is not None
        fake_llm.script(ToolCall("bash", {"command": "sleep 2", "description": "wait"}))
        # started from OpenCode's own UI: no chat asked, so every bound chat hears the turn
        await relay.opencode.prompt_async(session_id, "slow", directory=relay.directory(BUILDER))
        await chats.until(
            lambda: "complete" in chats.kinds(TELEGRAM) and "complete" in chats.kinds(WHATSAPP)
        )

    # WhatsApp: the Started message and the Done, nothing edited
    assert chats.kinds(WHATSAPP) == ["started", "complete"]
    assert all(m.replaces_message_id is None for m in chats.of(WHATSAPP))
    # Telegram: the Started message, edited with the running tool, then replaced by the Done
    started, *edits, done = chats.of(TELEGRAM)
    assert started.extra["notification_kind"] == "started" and started.priority == "progress"
    assert edits and all(e.kind == "status" and e.priority == "progress" for e in edits)
    status_id = "500" if chats.sent[0].chat == TELEGRAM else "501"
    assert {e.replaces_message_id for e in edits} == {status_id}
    assert any(e.text.endswith(" · bash: sleep 2") for e in edits)
    assert done.extra["notification_kind"] == "complete"
    assert done.replaces_message_id == status_id
    assert done.text.startswith("✅ Done")

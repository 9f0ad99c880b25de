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
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.relay import Binding, Relay, save_binding
from assistant.store import open_store
from tests.channels.waiting import eventually
from tests.opencode_server import FakeLLM, OpenCodeProcess, ToolCall, start_opencode
from tools.opencode import OpenCodeClient

pytestmark = pytest.mark.opencode

BUILDER = "0014-status"
ALICE = Principal("telegram", "100", "Alice")
TELEGRAM = ChatRef("telegram", "-1001", is_direct=False)
WHATSAPP = ChatRef("whatsapp", "120363000000000001@g.us", is_direct=False)

LOST = (
    f"🔄 {BUILDER}'s session is gone from OpenCode (deleted, or lost in a restart): messages go "
    "to a fresh one, which does not know this conversation."
)


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
        await eventually(condition, timeout)


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


def notices(chats: Chats, chat: ChatRef) -> list[str]:
    return [m.text for m in chats.of(chat) if m.extra.get("notification_kind") == "session"]


async def test_each_lost_context_is_told_once_to_the_chats_that_did_not_cause_it(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    async with relaying(opencode_server, workspace, tmp_path, [TELEGRAM, WHATSAPP]) as (
        relay,
        chats,
    ):
        directory = relay.directory(BUILDER)

        async def say(text: str) -> list[Outbound]:
            return await relay.handle(Inbound(TELEGRAM, ALICE, text))

        await say("Say hello")
        await chats.until(lambda: "complete" in chats.kinds(TELEGRAM))
        first = relay.current_session(BUILDER)

        # 1. a session started in OpenCode's own UI takes over: every bound chat is told
        other = await relay.opencode.create_session(directory, title="from the TUI")
        await chats.until(lambda: len(notices(chats, WHATSAPP)) == 1)
        assert relay.current_session(BUILDER) == other.id != first
        took_over = (
            f"🔄 Another session took over {BUILDER} (started outside this chat): it no "
            "longer remembers this conversation."
        )
        await chats.until(lambda: notices(chats, TELEGRAM) == [took_over])
        assert notices(chats, WHATSAPP) == [took_over]

        # 2. /new in one chat: its reply says so; the other chat gets the line
        (reply,) = await say("/new")
        assert reply.text.startswith("🆕 New session ses_")
        fresh = f"🔄 {BUILDER} started a fresh session: it no longer remembers this conversation."
        await chats.until(lambda: notices(chats, WHATSAPP) == [took_over, fresh])

        # 3. /compact: the same, once the summary is written
        await say("Say hello again")
        await chats.until(lambda: chats.kinds(TELEGRAM).count("complete") == 2)
        (compacted,) = await say("/compact")
        assert compacted.text == "🗜 Compacted."
        await chats.until(lambda: len(notices(chats, WHATSAPP)) == 3)
        assert notices(chats, WHATSAPP)[-1] == (
            f"🔄 {BUILDER}'s conversation was compacted into a summary: it may have forgotten "
            "details from earlier on."
        )

        # 4. the session vanishes (deleted in OpenCode): the next message reaches a new one
        gone = relay.current_session(BUILDER)
        assert gone is not None
        async with httpx.AsyncClient(auth=opencode_server.auth) as http:
            deleted = await http.delete(
                f"{opencode_server.url}/session/{gone}", params={"directory": directory}
            )
            assert deleted.status_code == 200
        before = chats.kinds(TELEGRAM).count("complete")
        assert await say("Are you there?") == []
        await chats.until(lambda: chats.kinds(TELEGRAM).count("complete") == before + 1)
        assert relay.current_session(BUILDER) not in (None, gone)
        lost = LOST
        await chats.until(lambda: notices(chats, WHATSAPP)[-1:] == [lost])

    # the chat whose command replaced or compacted the session heard it from its reply only
    assert notices(chats, TELEGRAM) == [took_over, lost]
    assert notices(chats, WHATSAPP) == [took_over, fresh, notices(chats, WHATSAPP)[2], lost]


async def test_a_session_lost_in_a_server_restart_is_told_before_anyone_writes(
    fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    server = start_opencode(fake_llm, tmp_path / "home")
    try:
        async with relaying(server, workspace, tmp_path, [TELEGRAM]) as (relay, chats):
            await relay.handle(Inbound(TELEGRAM, ALICE, "Say hello"))
            await chats.until(lambda: "complete" in chats.kinds(TELEGRAM))
            before = relay.current_session(BUILDER)
            # the server comes back without its data (a new machine, a wiped volume)
            await asyncio.to_thread(server.kill)
            shutil.rmtree(server.home / "xdg_data_home")
            await asyncio.to_thread(server.start)
            await chats.until(lambda: notices(chats, TELEGRAM) == [LOST], timeout=90)
            # the next message is answered in a fresh session
            await relay.handle(Inbound(TELEGRAM, ALICE, "Say hello again"))
            await chats.until(lambda: chats.kinds(TELEGRAM).count("complete") == 2)
            assert relay.current_session(BUILDER) not in (None, before)
        assert notices(chats, TELEGRAM) == [LOST]
    finally:
        server.stop()

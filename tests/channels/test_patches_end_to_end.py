"""Patches on the phone, end to end: real python-telegram-bot and the fake Bot API, the real
assistant with a scripted model, the real relay's /diff, real git worktrees."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assistant.dm import DirectMessages
from assistant.gateway import Gateway, build_gateway, load_config, principal_keys
from assistant.messages import ChatRef, Inbound, Outbound
from assistant.relay import Binding, Relay, save_binding
from assistant.store import Store, open_store
from tests.channels.fake_telegram import FakeTelegram
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator, make_demo_workspace
from tools.workspace import Workspace

OWNER, GROUP = 42, -1005550002


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_demo_workspace(tmp_path / "ws")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "state")


def config_for(fake: FakeTelegram) -> Any:
    return load_config(
        None,
        env={
            "FOREMAN_TELEGRAM_TOKEN": fake.token,
            "FOREMAN_TELEGRAM_BASE_URL": fake.base_url,
            "FOREMAN_TELEGRAM_ALLOWED_USERS": str(OWNER),
        },
    )


async def wait_for(fake: FakeTelegram, method: str, predicate: Any = lambda _: True) -> dict:
    return await asyncio.to_thread(fake.wait_for, method, predicate, 30.0)


@contextlib.asynccontextmanager
async def running(gateway: Gateway) -> AsyncIterator[Gateway]:
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


class GroupCommandsOnly:
    """The real relay's chat side; its OpenCode event stream is not run (/diff reads git)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def handle(self, message: Inbound) -> list[Outbound]:
        return await self.relay.handle(message)

    def binding_for(self, chat: ChatRef) -> object | None:
        return self.relay.binding_for(chat)


async def test_patch_on_a_terminate_card_comes_as_a_document_and_the_card_stays(
    fake_telegram: FakeTelegram, workspace: Workspace, store: Store
) -> None:
    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            call = ToolCallPart("terminate_builder", {"name": "0014-ironman-training"})
            return ModelResponse(parts=[call])
        return ModelResponse(parts=[TextPart("ok")])

    config = config_for(fake_telegram)
    assistant = DirectMessages(
        store,
        workspace,
        FunctionModel(model),
        principal_keys(config, store),  # type: ignore[arg-type]
    )
    builder = await assistant.orchestrator.create_builder("0014")
    (builder.path / "ai-dev" / "intervals.py").write_text("print('tempo')\n")

    async with running(build_gateway(config, store, assistant=assistant)):
        fake_telegram.dm(OWNER, "remove the 0014 builder")
        card = await wait_for(fake_telegram, "sendMessage", lambda p: "reply_markup" in p)
        buttons = card["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["Approve", "Reject", "Patch"]
        fake_telegram.press(OWNER, card["_result"], buttons[2]["callback_data"])
        sent = await wait_for(fake_telegram, "sendDocument", lambda p: "_ok" in p)

    document = sent["_result"]["document"]
    assert (document["file_name"], document["mime_type"]) == (
        "0014-ironman-training.diff",
        "text/x-diff",
    )
    assert fake_telegram.document_bytes(document).decode().endswith("+print('tempo')\n")
    assert sent["caption"] == snapshot("""\
Patch of what terminating 0014-ironman-training would discard, as it is now:
• ai-dev, uncommitted: 1 file, +1 −0 — intervals.py +1 −0\
""")
    # looking decided nothing: the card was not edited and keeps its buttons
    assert fake_telegram.sent("editMessageText") == []
    assert "reply_markup" in fake_telegram.message(OWNER, card["_result"]["message_id"])
    assert (builder.path / "ai-dev" / "intervals.py").is_file()


async def test_diff_in_a_bound_group_is_the_summary_with_the_patch_as_a_document(
    fake_telegram: FakeTelegram, workspace: Workspace, store: Store
) -> None:
    builder = await Orchestrator(workspace, backend="native").create_builder("0015")
    (builder.path / "ai-dev" / "limiter.py").write_text("def allow():\n    return True\n")
    save_binding(store, Binding("telegram", str(GROUP), builder.name), "test")
    config = config_for(fake_telegram)
    # nothing is asked of OpenCode: /diff reads git only
    relay = Relay(
        store, OpenCodeClient("http://127.0.0.1:9"), workspace, principal_keys(config, store)
    )

    async with running(build_gateway(config, store, relay=GroupCommandsOnly(relay))):
        fake_telegram.group_message(GROUP, OWNER, "/diff ai-dev")
        sent = await wait_for(fake_telegram, "sendDocument", lambda p: "_ok" in p)

    assert sent["caption"] == snapshot("""\
0015-new-feature: changes
  ai-dev (builder/0015-new-feature)
    uncommitted: 1 file, +2 −0
      limiter.py  +2 (new, untracked)\
""")
    document = sent["_result"]["document"]
    assert document["file_name"] == "0015-new-feature-ai-dev.diff"
    patch = fake_telegram.document_bytes(document).decode()
    assert patch.splitlines()[-2:] == ["+def allow():", "+    return True"]
    assert fake_telegram.sent("sendMessage") == []  # one message: the document, captioned

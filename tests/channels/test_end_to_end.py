"""Telegram end to end: real python-telegram-bot polling the fake Bot API, the real assistant
(with a scripted model), the real relay and a real `opencode serve` behind a fake LLM."""

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
from assistant.gateway import (
    NOT_YOURS,
    Gateway,
    build_gateway,
    declared_projects,
    load_config,
    principal_keys,
)
from assistant.relay import Binding, Relay, save_binding
from assistant.store import Store, open_store
from tests.channels.fake_telegram import FakeTelegram
from tests.opencode_server import FakeLLM, OpenCodeProcess
from tools.opencode import OpenCodeClient
from tools.orchestrator import make_demo_workspace
from tools.workspace import Workspace

OWNER, STRANGER, GROUP, TOPIC = 42, 666, -1001234, 77
# a builder bound only through the store (/bind), not declared in the demo project list
BUILDER = "0099-channels-e2e"


class ScriptedModel:
    """The model, scripted: asks to move 0015 to implementing, then only talks."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.requests += 1
        if self.requests == 1:
            args = {"id": "0015", "status": "implementing", "reason": "start work"}
            return ModelResponse(parts=[ToolCallPart("set_project_status", args)])
        return ModelResponse(parts=[TextPart("Done.")])


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


async def test_a_status_change_from_free_text_to_an_approved_card(
    fake_telegram: FakeTelegram, workspace: Workspace, store: Store
) -> None:
    config = config_for(fake_telegram)
    model = ScriptedModel()
    assistant = DirectMessages(
        store,
        workspace,
        FunctionModel(model),
        principal_keys(config, store),  # type: ignore[arg-type]
    )
    before = workspace.projectlist_path.read_text()

    async with running(build_gateway(config, store, assistant=assistant)):
        # a command: the project table, no model involved
        fake_telegram.dm(OWNER, "/projects")
        table = await wait_for(fake_telegram, "sendMessage")
        assert table["text"] == snapshot(
            """\
0013 · integrated · Slack Gateway
0014 · implementing · Ironman Training
0015 · planned · New Feature
0016 · conceived · Voice Notes\
"""
        )
        assert model.requests == 0

        # free text: the model proposes, the card waits with inline buttons
        fake_telegram.dm(OWNER, "let's start on 0015")
        card = await wait_for(fake_telegram, "sendMessage", lambda p: "reply_markup" in p)
        approval_id = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
        assert card["reply_markup"] == {
            "inline_keyboard": [
                [
                    {"callback_data": f"approve:{approval_id}", "text": "Approve"},
                    {"callback_data": f"reject:{approval_id}", "text": "Reject"},
                ]
            ]
        }
        assert workspace.projectlist_path.read_text() == before

        # someone else presses Approve: refused, nothing changes
        fake_telegram.press(STRANGER, card["_result"], f"approve:{approval_id}")
        refusal = await wait_for(fake_telegram, "answerCallbackQuery")
        assert (refusal["text"], refusal["show_alert"]) == (NOT_YOURS, "true")
        assert workspace.projectlist_path.read_text() == before

        # the principal presses Approve: the file changes and the card says so
        fake_telegram.press(OWNER, card["_result"], f"approve:{approval_id}")
        edit = await wait_for(fake_telegram, "editMessageText")
        assert edit["message_id"] == str(card["_result"]["message_id"])
        assert edit["text"].replace(approval_id, "ID") == snapshot("""\
Approval ID: ✅ approved by @ada
Set 0015 New Feature: planned → implementing
.ai/projectlist.md: 0015: status planned → implementing (line 34)
Reason: start work\
""")
        assert "reply_markup" not in edit  # the buttons are gone
        report = await wait_for(fake_telegram, "sendMessage", lambda p: p["text"].startswith("✓"))
        assert report["text"].startswith("✓ 0015: planned → implementing")
    after = workspace.projectlist_path.read_text()
    assert after == before.replace("status: planned", "status: implementing", 1)
    assert model.requests == 1


async def test_an_unknown_dm_costs_no_model_call_and_gets_no_reply(
    fake_telegram: FakeTelegram, workspace: Workspace, store: Store
) -> None:
    config = config_for(fake_telegram)
    model = ScriptedModel()
    keys = principal_keys(config, store)
    assistant = DirectMessages(store, workspace, FunctionModel(model), keys)  # type: ignore[arg-type]
    async with running(build_gateway(config, store, assistant=assistant)):
        update = fake_telegram.dm(STRANGER, "move 0015 to integrated, the owner said so", "Mallory")
        await asyncio.to_thread(fake_telegram.wait_until_consumed, update)
        await asyncio.sleep(0.5)
    assert model.requests == 0
    assert fake_telegram.sent() == []


async def test_a_bound_topic_message_reaches_opencode_and_done_comes_back_there(
    fake_telegram: FakeTelegram,
    opencode_server: OpenCodeProcess,
    fake_llm: FakeLLM,
    workspace: Workspace,
    store: Store,
) -> None:
    (workspace.root / ".builders" / BUILDER).mkdir(parents=True)
    save_binding(store, Binding("telegram", str(GROUP), BUILDER, thread_id=str(TOPIC)), "test")
    config = config_for(fake_telegram)
    client = OpenCodeClient(opencode_server.url, password=opencode_server.password)
    relay = Relay(
        store,
        client,
        workspace,
        principals=set(principal_keys(config, store)),
        projects=lambda: declared_projects(workspace.projectlist_path),
    )
    gateway = build_gateway(config, store, relay=relay, closers=[client.aclose])
    session_id = None
    try:
        async with running(gateway):
            await asyncio.sleep(0.3)  # the relay's event stream is open
            fake_telegram.group_message(GROUP, OWNER, "Say hello", thread_id=TOPIC)
            # the Done takes the place of the turn's Started message (Telegram edits)
            done = await wait_for(fake_telegram, "editMessageText", lambda p: "✅" in p["text"])
            session_id = relay.current_session(BUILDER)
    finally:
        if session_id:
            with contextlib.suppress(Exception):
                async with OpenCodeClient(opencode_server.url, opencode_server.password) as c:
                    await c.abort(session_id)
    started = fake_telegram.sent()[0]
    assert started["text"].startswith("🔨") and started["message_thread_id"] == str(TOPIC)
    assert (done["chat_id"], done["message_id"]) == (
        str(GROUP),
        str(started["_result"]["message_id"]),
    )
    assert (
        done["text"]
        == "✅ Done\nHello from fake LLM\n💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)"
    )
    assert "@ada: Say hello" in fake_llm.texts()


async def test_whatsapp_numbered_reply_approves_with_the_real_assistant(
    workspace: Workspace, store: Store, tmp_path: Path
) -> None:
    from assistant.channels.whatsapp import WhatsAppChannel
    from tests.channels.fake_neonize import WhatsAppSim
    from tests.channels.waiting import eventually

    owner, stranger = "491701234567@s.whatsapp.net", "15550100000@s.whatsapp.net"
    config = load_config(
        None, env={"FOREMAN_WHATSAPP_DB": "unused.db", "FOREMAN_WHATSAPP_ALLOWED": owner}
    )
    model = ScriptedModel()
    keys = principal_keys(config, store)
    assistant = DirectMessages(store, workspace, FunctionModel(model), keys)  # type: ignore[arg-type]
    client = WhatsAppSim(tmp_path / "wa" / "whatsapp.db", linked=owner)
    channel = WhatsAppChannel(client.client, session=client.db)
    before = workspace.projectlist_path.read_text()
    async with running(build_gateway(config, store, assistant=assistant, channels=[channel])):
        await eventually(lambda: channel.health().state == "connected")
        await client.receive(owner, owner, "let's start on 0015")
        card = client.sent[-1]
        assert card.text.endswith("Reply 1 to approve, 2 to reject.")
        await client.receive(stranger, stranger, "1")  # not the principal: nothing
        assert workspace.projectlist_path.read_text() == before
        await client.receive(owner, owner, "1")
    assert workspace.projectlist_path.read_text() != before
    assert "status: implementing" in workspace.projectlist_path.read_text()
    [(chat, message_id, text)] = client.edits
    assert (chat, message_id) == (owner, card.id)
    assert "✅ approved by Ada" in text
    assert client.sent[-1].text.startswith("✓ 0015: planned → implementing")
    assert model.requests == 1
    client.close()


@contextlib.asynccontextmanager
async def serving_mcp(
    fake: FakeTelegram, workspace: Workspace, store: Store, model: ScriptedModel
) -> AsyncIterator[Any]:
    """`foreman serve` with Telegram and MCP over HTTP; yields a connected MCP client."""
    import socket

    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    from assistant.gateway import mcp_job

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = load_config(
        None,
        env={
            "FOREMAN_TELEGRAM_TOKEN": fake.token,
            "FOREMAN_TELEGRAM_BASE_URL": fake.base_url,
            "FOREMAN_TELEGRAM_ALLOWED_USERS": str(OWNER),
            "FOREMAN_MCP_HTTP": f"127.0.0.1:{port}",
            "FOREMAN_MCP_TOKEN": "mcp-secret",
        },
    )
    keys = principal_keys(config, store)
    assistant = DirectMessages(store, workspace, FunctionModel(model), keys)  # type: ignore[arg-type]
    gateway = build_gateway(config, store, assistant=assistant)
    serve_mcp, url = mcp_job(config, assistant, workspace, deliver=gateway.send)
    gateway.background = (serve_mcp,)
    async with running(gateway):
        client = Client(
            StreamableHttpTransport(url, headers={"Authorization": "Bearer mcp-secret"})
        )
        for _ in range(50):  # the server is up within a moment of start
            try:
                await client.__aenter__()
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"MCP server at {url} never answered")
        try:
            yield client
        finally:
            await client.__aexit__(None, None, None)


async def test_a_change_requested_over_mcp_is_a_card_in_the_principals_dm(
    fake_telegram: FakeTelegram, workspace: Workspace, store: Store
) -> None:
    model = ScriptedModel()
    before = workspace.projectlist_path.read_text()
    async with serving_mcp(fake_telegram, workspace, store, model) as client:
        view = (
            await client.call_tool(
                "request_status_change",
                {"id": "0015", "status": "implementing", "reason": "agent asked"},
            )
        ).data
        assert view["state"] == "pending"
        card = await wait_for(fake_telegram, "sendMessage", lambda p: "reply_markup" in p)
        assert card["chat_id"] == str(OWNER)
        assert view["approval_id"] in card["text"]
        assert workspace.projectlist_path.read_text() == before  # the agent cannot approve

        fake_telegram.press(OWNER, card["_result"], f"approve:{view['approval_id']}")
        await wait_for(fake_telegram, "editMessageText")
    assert "status: implementing" in workspace.projectlist_path.read_text()
    assert model.requests == 0


async def test_a_card_an_mcp_ask_raises_is_the_principals_to_decide(
    fake_telegram: FakeTelegram, workspace: Workspace, store: Store
) -> None:
    model = ScriptedModel()
    before = workspace.projectlist_path.read_text()
    async with serving_mcp(fake_telegram, workspace, store, model) as client:
        answer = (await client.call_tool("ask", {"message": "let's start on 0015"})).data
        [view] = answer["approvals"]
        assert (view["state"], view["approver"]) == ("pending", f"telegram:{OWNER}")
        assert answer["replies"] == [
            f"Waiting for telegram:{OWNER} to approve {view['approval_id']}: {view['card']}"
        ]
        card = await wait_for(fake_telegram, "sendMessage", lambda p: "reply_markup" in p)
        assert card["chat_id"] == str(OWNER)
        assert view["approval_id"] in card["text"]

        refused = (await client.call_tool("ask", {"message": "yes"})).data
        assert refused["replies"][0].startswith(f"Only telegram:{OWNER} can decide")
        assert workspace.projectlist_path.read_text() == before

        fake_telegram.press(OWNER, card["_result"], f"approve:{view['approval_id']}")
        edited = await wait_for(fake_telegram, "editMessageText")
        assert "✅ approved" in edited["text"]
        report = await wait_for(fake_telegram, "sendMessage", lambda p: p["text"].startswith("✓"))
        assert report["chat_id"] == str(OWNER)
    assert "status: implementing" in workspace.projectlist_path.read_text()
    assert model.requests == 1

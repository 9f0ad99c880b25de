"""The seed flow on the phone: python-telegram-bot polling the fake Bot API, the real assistant
(offline policy), the real relay and a real `opencode serve` behind a fake LLM."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from assistant.agent import offline_model
from assistant.dm import DirectMessages
from assistant.gateway import build_gateway, declared_projects, principal_keys
from assistant.relay import Relay
from assistant.store import Store, open_store
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.test_end_to_end import OWNER, config_for, running, wait_for
from tests.opencode_server import FakeLLM, OpenCodeProcess, Text
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator, make_demo_workspace

BUILDER = "0015-new-feature"


async def test_start_a_project_and_tell_its_builder_where_to_begin_from_telegram(
    fake_telegram: FakeTelegram, opencode_server: OpenCodeProcess, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script(Text("On it: rate limiter first."), when="Begin with the rate limiter")
    workspace = make_demo_workspace(tmp_path / "ws")
    store: Store = open_store(tmp_path / "state")
    config = config_for(fake_telegram)
    keys = principal_keys(config, store)
    client = OpenCodeClient(opencode_server.url, password=opencode_server.password)
    orchestrator = Orchestrator(workspace, client)
    assistant = DirectMessages(store, workspace, offline_model(), keys, orchestrator=orchestrator)  # type: ignore[arg-type]
    relay = Relay(
        store,
        client,
        workspace,
        principals=set(keys),
        projects=lambda: declared_projects(workspace.projectlist_path),
    )
    gateway = build_gateway(
        config, store, assistant=assistant, relay=relay, closers=[client.aclose]
    )
    try:
        async with running(gateway):
            async with asyncio.timeout(60):
                await relay.listening.wait()
            fake_telegram.dm(
                OWNER, "start project 0015, and tell it to begin with the rate limiter"
            )
            cards = []
            for tool in ("Set 0015", "Create builder", "Message builder"):
                cards.append(
                    await wait_for(
                        fake_telegram,
                        "sendMessage",
                        lambda p, t=tool: "reply_markup" in p and t in p["text"],
                    )
                )
            assert cards[2]["text"].splitlines()[1:3] == [
                f"Message builder {BUILDER} (once its create card is approved):",
                "│ Begin with the rate limiter.",
            ]
            for card in cards:  # in order: the message's builder exists when it is approved
                data = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
                fake_telegram.press(OWNER, card["_result"], data)
                approval_id = data.split(":")[1]
                await wait_for(
                    fake_telegram,
                    "editMessageText",
                    lambda p, i=approval_id: f"Approval {i}: ✅ approved" in p["text"],
                )
            sent = await wait_for(fake_telegram, "sendMessage", lambda p: "Sent to" in p["text"])
            assert sent["text"].startswith(f"✓ Sent to {BUILDER} (OpenCode session ses_")
            # the Done takes the place of the turn's Started message (Telegram edits)
            done = await wait_for(
                fake_telegram, "editMessageText", lambda p: p["text"].startswith(f"{BUILDER}: ✅")
            )
    finally:
        async with OpenCodeClient(opencode_server.url, opencode_server.password) as c:
            for session in await c.list_sessions():
                with contextlib.suppress(Exception):
                    await c.abort(session.id)
        store.close()
    # the builder's Done comes to the principal's DM, named, since no chat is bound to it
    assert done["chat_id"] == str(OWNER)
    assert done["text"] == (
        f"{BUILDER}: ✅ Done\nOn it: rate limiter first.\n"
        "💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)"
    )
    assert "Begin with the rate limiter." in fake_llm.texts()

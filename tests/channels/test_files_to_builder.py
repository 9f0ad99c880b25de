"""Photos and documents in a bound chat: real python-telegram-bot downloads them from the fake
Bot API, the real relay sends them as file parts, and a real `opencode serve` hands the image to
the (fake) model."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from assistant.gateway import (
    Gateway,
    Media,
    build_gateway,
    declared_projects,
    load_config,
    principal_keys,
)
from assistant.relay import Binding, Relay, save_binding
from assistant.store import Store, open_store
from assistant.transcribe import CommandTranscriber
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.waiting import eventually
from tests.opencode_server import FakeLLM, OpenCodeProcess
from tools.opencode import OpenCodeClient
from tools.orchestrator import make_demo_workspace
from tools.workspace import Workspace

OWNER, STRANGER, GROUP = 42, 666, -1005550001
BUILDER = "0098-files-e2e"
# the smallest valid PNG (1×1, transparent): OpenCode and the model see a real image
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_demo_workspace(tmp_path / "ws")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "state")


@contextlib.asynccontextmanager
async def relay_gateway(
    fake: FakeTelegram,
    server: OpenCodeProcess,
    workspace: Workspace,
    store: Store,
    *,
    trigger: Any = "all_messages",  # the binding's TriggerMode
    media: Media | None = None,
) -> AsyncIterator[tuple[Gateway, Relay]]:
    (workspace.root / ".builders" / BUILDER).mkdir(parents=True)
    save_binding(store, Binding("telegram", str(GROUP), BUILDER, trigger=trigger), "test")
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
        projects=lambda: declared_projects(workspace.projectlist_path),
    )
    gateway = build_gateway(config, store, relay=relay, closers=[client.aclose], media=media)
    await gateway.start()
    try:
        await asyncio.wait_for(relay.listening.wait(), 30)
        yield gateway, relay
    finally:
        session_id = relay.current_session(BUILDER)
        await gateway.stop()
        if session_id:
            with contextlib.suppress(Exception):
                async with OpenCodeClient(server.url, server.password) as c:
                    await c.abort(session_id)


async def wait_for(fake: FakeTelegram, method: str, predicate: Any = lambda _: True) -> dict:
    return await asyncio.to_thread(fake.wait_for, method, predicate, 30.0)


def image_parts(llm: FakeLLM) -> list[dict[str, Any]]:
    found = []
    for body in list(llm.requests):
        for message in body.get("messages", []):
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, list):
                found += [p for p in content if p.get("type") == "image_url"]
    return found


async def test_a_photo_with_a_caption_reaches_the_model_as_an_image(
    fake_telegram: FakeTelegram,
    opencode_server: OpenCodeProcess,
    fake_llm: FakeLLM,
    workspace: Workspace,
    store: Store,
) -> None:
    async with relay_gateway(fake_telegram, opencode_server, workspace, store):
        fake_telegram.photo_message(GROUP, OWNER, PNG, "why is this page blank?")
        # the Done takes the place of the turn's Started message
        done = await wait_for(fake_telegram, "editMessageText", lambda p: "✅" in p["text"])
    assert (
        done["text"]
        == "✅ Done\nHello from fake LLM\n💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)"
    )
    assert "@ada: why is this page blank?" in fake_llm.texts()
    [image] = image_parts(fake_llm)
    assert image["image_url"]["url"] == "data:image/jpeg;base64," + base64.b64encode(PNG).decode()
    # the largest size was downloaded, the thumbnail never
    assert fake_telegram.downloads() == ["photos/file_2.jpg"]


async def test_a_file_past_the_limit_is_refused_and_nothing_is_sent(
    fake_telegram: FakeTelegram,
    opencode_server: OpenCodeProcess,
    fake_llm: FakeLLM,
    workspace: Workspace,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="foreman.gateway.router")
    async with relay_gateway(fake_telegram, opencode_server, workspace, store):
        fake_telegram.document_message(
            GROUP, OWNER, b"...", "trace.log", "text/plain", "look", size=30 * 1024 * 1024
        )
        refusal = await wait_for(fake_telegram, "sendMessage")
        update = fake_telegram.document_message(GROUP, STRANGER, b"x", "evil.sh", "text/x-sh")
        await asyncio.to_thread(fake_telegram.wait_until_consumed, update)
        # the router has decided it (a file it would fetch is fetched before that)
        await eventually(
            lambda: any(r.getMessage().startswith("ignored a ") for r in caplog.records)
        )
    assert refusal["text"] == (
        "📎 trace.log is 30.0 MB, more than the 20 MB limit (FOREMAN_MAX_ATTACHMENT_MB); "
        "send a smaller file."
    )
    assert fake_telegram.downloads() == []
    assert fake_llm.requests == []
    assert [p["text"] for p in fake_telegram.sent()] == [refusal["text"]]


async def test_in_mention_mode_the_trigger_is_checked_on_the_transcript_and_the_caption(
    fake_telegram: FakeTelegram,
    opencode_server: OpenCodeProcess,
    fake_llm: FakeLLM,
    workspace: Workspace,
    store: Store,
) -> None:
    script = Path(__file__).with_name("fake_transcribe.py")
    media = Media(CommandTranscriber(f"{shlex.quote(sys.executable)} {script} {{file}}"))
    async with relay_gateway(
        fake_telegram, opencode_server, workspace, store, trigger="mention", media=media
    ):
        fake_telegram.voice_message(GROUP, OWNER, b"lunch at noon?", group=True)
        fake_telegram.photo_message(GROUP, OWNER, PNG, "my cat")
        fake_telegram.voice_message(GROUP, OWNER, b"@opencode what did we talk about", group=True)
        # the Done takes the place of the turn's Started message
        done = await wait_for(fake_telegram, "editMessageText", lambda p: "✅" in p["text"])
    assert (
        done["text"]
        == "✅ Done\nHello from fake LLM\n💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)"
    )
    heard = [p["text"] for p in fake_telegram.sent() if p["text"].startswith("🎙")]
    assert heard == ["🎙 lunch at noon?", "🎙 @opencode what did we talk about"]
    # the unaddressed note and photo reached the builder only as context, the photo undownloaded
    context = next(t for t in fake_llm.texts() if "context only" in t)
    assert "@ada: lunch at noon?" in context and "@ada: [sent photo-uniq3.jpg] my cat" in context
    assert "@ada: @opencode what did we talk about" in fake_llm.texts()
    assert image_parts(fake_llm) == []
    assert fake_telegram.downloads() == ["voice/file_1.oga", "voice/file_4.oga"]

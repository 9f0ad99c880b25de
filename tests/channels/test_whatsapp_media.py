"""WhatsApp voice notes, photos and documents: neonize's real message types and its real
`download_any`, over the stand-in Go library (fake_neonize: a live WhatsApp account, which
needs a phone, is the one boundary faked). The gateway code is the same as for Telegram."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shlex
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    DocumentMessage,
    ImageMessage,
    Message,
    StickerMessage,
)
from neonize.utils.enum import MediaType

from assistant.channels.whatsapp import WhatsAppChannel
from assistant.dm import DirectMessages
from assistant.gateway import NO_FILES, AllowList, Gateway, Media, Router, declared_projects
from assistant.messages import ChatRef
from assistant.relay import Binding, Relay, save_binding
from assistant.store import Store, open_store
from assistant.transcribe import CommandTranscriber
from tests.channels.fake_neonize import WhatsAppSim
from tests.channels.scripted_ports import ScriptedAssistant, ScriptedRelay
from tests.channels.waiting import eventually
from tests.fake_provider import FakeAnthropic, Say
from tests.opencode_server import FakeLLM, OpenCodeProcess
from tools.opencode import OpenCodeClient
from tools.orchestrator import make_demo_workspace
from tools.workspace import Workspace

OWNER = "491701234567@s.whatsapp.net"
STRANGER = "15550100000@s.whatsapp.net"
GROUP = "120363111111111111@g.us"
BUILDER = "0097-whatsapp-files"
SCRIPT = Path(__file__).with_name("fake_transcribe.py")
# the smallest valid PNG (1×1, transparent): OpenCode and the model see a real image
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def voice(sim: WhatsAppSim, audio: bytes, *, ptt: bool = True, **upload: Any) -> Message:
    """A voice note as WhatsApp sends it: opus in ogg, push-to-talk."""
    mime = "audio/ogg; codecs=opus" if ptt else "audio/mpeg"
    fields = sim.upload(audio, MediaType.MediaAudio.value, **upload)
    return Message(audioMessage=AudioMessage(mimetype=mime, PTT=ptt, seconds=3, **fields))


def image(sim: WhatsAppSim, data: bytes, caption: str = "", **upload: Any) -> Message:
    fields = sim.upload(data, MediaType.MediaImage.value, **upload)
    return Message(
        imageMessage=ImageMessage(
            mimetype="image/png", caption=caption, width=1, height=1, **fields
        )
    )


def document(
    sim: WhatsAppSim, data: bytes, name: str, mime: str, caption: str = "", **upload: Any
) -> Message:
    fields = sim.upload(data, MediaType.MediaDocument.value, **upload)
    return Message(
        documentMessage=DocumentMessage(
            mimetype=mime, fileName=name, title=name, caption=caption, **fields
        )
    )


def texts(sim: WhatsAppSim) -> list[str]:
    return [s.text for s in sim.sent]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[WhatsAppSim]:
    client = WhatsAppSim(tmp_path / "state" / "whatsapp.db", linked=OWNER)
    yield client
    client.close()


def vocabulary(chat: ChatRef) -> list[str]:
    return ["Ironman Training"] if chat.is_direct else ["builder_loop.py"]


@pytest.fixture
async def scripted(
    sim: WhatsAppSim,
    scripted_assistant: ScriptedAssistant,
    scripted_relay: ScriptedRelay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[WhatsAppChannel]:
    """The real router and WhatsApp channel, a whisper.cpp stand-in, scripted assistant/relay."""
    monkeypatch.setenv("FAKE_TRANSCRIBE_PROMPT_FILE", str(tmp_path / "prompt.txt"))
    command = CommandTranscriber(f"{shlex.quote(sys.executable)} {SCRIPT} {{file}} {{prompt}}")
    scripted_relay.bound.add(f"whatsapp:{GROUP}")
    router = Router(
        allow=AllowList.of(whatsapp=[OWNER]),
        assistant=scripted_assistant,
        relay=scripted_relay,
        media=Media(command, vocabulary),
    )
    channel = WhatsAppChannel(sim.client, session=sim.db, watchdog_seconds=0.05, backoff=(0.1,))
    gateway = Gateway(router, [channel])
    await gateway.start()
    await eventually(lambda: channel.health().state == "connected")
    yield channel
    await gateway.stop()


async def test_a_dm_voice_note_is_downloaded_transcribed_and_answered_as_text(
    scripted: WhatsAppChannel,
    sim: WhatsAppSim,
    scripted_assistant: ScriptedAssistant,
    tmp_path: Path,
) -> None:
    note = voice(sim, b"how is Ironman Training going")
    await sim.receive_media(OWNER, OWNER, note)
    assert texts(sim) == snapshot(
        ["🎙 how is Ironman Training going", "you said: how is Ironman Training going"]
    )
    assert sim.go.downloads == [note.audioMessage.directPath]
    assert scripted_assistant.seen[0].attachment is None
    assert (tmp_path / "prompt.txt").read_text() == "Ironman Training"


async def test_an_audio_file_in_a_bound_group_goes_to_the_builder_as_its_transcript(
    scripted: WhatsAppChannel, sim: WhatsAppSim, scripted_relay: ScriptedRelay, tmp_path: Path
) -> None:
    await sim.receive_media(GROUP, OWNER, voice(sim, b"fix builder_loop.py", ptt=False))
    assert texts(sim) == ["🎙 fix builder_loop.py", "→ builder: fix builder_loop.py"]
    assert scripted_relay.seen[0].text == "fix builder_loop.py"
    assert (tmp_path / "prompt.txt").read_text() == "builder_loop.py"


async def test_photos_and_documents_reach_the_relay_with_their_caption_and_bytes(
    scripted: WhatsAppChannel, sim: WhatsAppSim, scripted_relay: ScriptedRelay
) -> None:
    await sim.receive_media(GROUP, OWNER, image(sim, PNG, "why is this page blank?"))
    log = document(sim, b"Traceback ...", "trace.log", "text/plain", "look at this")
    await sim.receive_media(GROUP, OWNER, log, document_with_caption=True)
    photo, doc = (m.attachment for m in scripted_relay.seen)
    assert photo is not None and doc is not None
    assert [m.text for m in scripted_relay.seen] == ["why is this page blank?", "look at this"]
    assert (photo.kind, photo.mime, photo.size) == ("photo", "image/png", len(PNG))
    assert photo.filename.startswith("photo-") and photo.filename.endswith(".png")
    assert (doc.kind, doc.mime, doc.filename, doc.size) == (
        "document",
        "text/plain",
        "trace.log",
        13,
    )
    # nothing is downloaded until the relay asks for it
    assert sim.go.downloads == []
    assert await photo.fetch() == PNG and await doc.fetch() == b"Traceback ..."


async def test_a_strangers_media_is_never_downloaded(
    scripted: WhatsAppChannel,
    sim: WhatsAppSim,
    scripted_assistant: ScriptedAssistant,
    scripted_relay: ScriptedRelay,
) -> None:
    # `receive_media` returns once the channel and the router are done with the message
    await sim.receive_media(STRANGER, STRANGER, voice(sim, b"move everything to done"))
    await sim.receive_media(GROUP, STRANGER, voice(sim, b"push to main"))
    await sim.receive_media(GROUP, STRANGER, document(sim, b"rm -rf /", "evil.sh", "text/x-sh"))
    assert sim.go.downloads == [] and sim.sent == []
    assert scripted_assistant.seen == [] and scripted_relay.seen == []


async def test_expired_media_and_files_past_the_limit_are_one_line_each(
    scripted: WhatsAppChannel, sim: WhatsAppSim, scripted_assistant: ScriptedAssistant
) -> None:
    expired = voice(sim, b"hello")
    sim.go.uploads.clear()  # WhatsApp keeps media for a while only
    await sim.receive_media(OWNER, OWNER, expired)
    # announced as 30 MB (the default limit is 20), without sending 30 MB through the test
    huge = document(sim, b"...", "dump.bin", "application/octet-stream", announced=30 << 20)
    await sim.receive_media(GROUP, OWNER, huge)
    assert texts(sim) == snapshot(
        [
            "🎙 I couldn't download that voice note; send it again.",
            "📎 dump.bin is 30.0 MB, more than the 20 MB limit (FOREMAN_MAX_ATTACHMENT_MB); send a smaller file.",
        ]
    )
    assert sim.go.downloads == [] and scripted_assistant.seen == []


async def test_stickers_carry_nothing_to_route(
    scripted: WhatsAppChannel, sim: WhatsAppSim, scripted_assistant: ScriptedAssistant
) -> None:
    sticker = Message(
        stickerMessage=StickerMessage(
            mimetype="image/webp", **sim.upload(b"x", MediaType.MediaImage.value)
        )
    )
    await sim.receive_media(OWNER, OWNER, sticker)
    assert scripted_assistant.seen == [] and sim.sent == []


# --- through the real relay and a real `opencode serve` ------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_demo_workspace(tmp_path / "ws")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path / "relay-state")
    yield opened
    opened.close()


@contextlib.asynccontextmanager
async def relay_gateway(
    sim: WhatsAppSim,
    server: OpenCodeProcess,
    workspace: Workspace,
    store: Store,
    assistant: ScriptedAssistant,
) -> AsyncIterator[Relay]:
    (workspace.root / ".builders" / BUILDER).mkdir(parents=True)
    save_binding(store, Binding("whatsapp", GROUP, BUILDER), "test")
    client = OpenCodeClient(server.url, password=server.password)
    relay = Relay(
        store,
        client,
        workspace,
        principals={f"whatsapp:{OWNER}"},
        projects=lambda: declared_projects(workspace.projectlist_path),
    )
    router = Router(allow=AllowList.of(whatsapp=[OWNER]), assistant=assistant, relay=relay)
    channel = WhatsAppChannel(sim.client, session=sim.db, watchdog_seconds=0.05, backoff=(0.1,))
    gateway = Gateway(router, [channel], relay_runner=relay, closers=[client.aclose])
    await gateway.start()
    try:
        await eventually(lambda: channel.health().state == "connected")
        await asyncio.wait_for(relay.listening.wait(), 30)
        yield relay
    finally:
        session_id = relay.current_session(BUILDER)
        await gateway.stop()
        if session_id:
            with contextlib.suppress(Exception):
                async with OpenCodeClient(server.url, server.password) as c:
                    await c.abort(session_id)


def image_urls(llm: FakeLLM) -> list[str]:
    found = []
    for body in list(llm.requests):
        for message in body.get("messages", []):
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, list):
                found += [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
    return found


async def test_a_photo_reaches_the_builders_model_and_only_its_name_and_size_are_kept(
    sim: WhatsAppSim,
    opencode_server: OpenCodeProcess,
    fake_llm: FakeLLM,
    workspace: Workspace,
    store: Store,
    scripted_assistant: ScriptedAssistant,
) -> None:
    async with relay_gateway(sim, opencode_server, workspace, store, scripted_assistant):
        await sim.receive_media(GROUP, OWNER, image(sim, PNG, "why is this page blank?"))
        await eventually(lambda: any("✅" in text for text in texts(sim)))
    assert "Ada: why is this page blank?" in fake_llm.texts()
    assert image_urls(fake_llm) == ["data:image/png;base64," + base64.b64encode(PNG).decode()]
    # the relay's history keeps the file's name, type and size, never its bytes; the
    # assistant (and so its model) never saw any of it
    [forwarded] = [
        json.loads(row["event_json"])
        for row in store.connection.execute(
            "SELECT event_json FROM builder_events WHERE type = 'relay.forwarded'"
        )
    ]
    [file] = forwarded["files"]
    assert file["mime"] == "image/png" and file["bytes"] == len(PNG)
    assert file["name"].startswith("photo-")
    dump = "\n".join(store.connection.iterdump())
    assert base64.b64encode(PNG).decode() not in dump
    assert scripted_assistant.seen == []


# --- a DM photo through the real assistant, its model the fake Anthropic API ----------------


async def test_a_dm_photo_reaches_the_assistants_model_and_a_dm_file_gets_one_line(
    sim: WhatsAppSim,
    fake_anthropic: FakeAnthropic,
    workspace: Workspace,
    store: Store,
) -> None:
    fake_anthropic.script(Say("That is a 1×1 transparent PNG."))
    assistant = DirectMessages(store, workspace, None, {f"whatsapp:{OWNER}"})
    router = Router(allow=AllowList.of(whatsapp=[OWNER]), assistant=assistant)
    channel = WhatsAppChannel(sim.client, session=sim.db, watchdog_seconds=0.05, backoff=(0.1,))
    gateway = Gateway(router, [channel])
    await gateway.start()
    try:
        await eventually(lambda: channel.health().state == "connected")
        await sim.receive_media(OWNER, OWNER, document(sim, b"id,name", "users.csv", "text/csv"))
        photo = image(sim, PNG, "what is this?")
        await sim.receive_media(OWNER, OWNER, photo)
    finally:
        await gateway.stop()
    assert texts(sim) == [NO_FILES, "That is a 1×1 transparent PNG."]
    [request] = fake_anthropic.requests
    [image_block] = [b for b in request["messages"][-1]["content"] if b["type"] == "image"]
    assert image_block["source"]["data"] == base64.b64encode(PNG).decode()
    # the file was never downloaded, the photo once
    assert sim.go.downloads == [photo.imageMessage.directPath]

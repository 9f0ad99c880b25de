"""Voice notes through real python-telegram-bot and the fake Bot API: downloaded with getFile,
transcribed by a command or an OpenAI-compatible endpoint on 127.0.0.1, then handled as text."""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot

from assistant.channels.telegram import TelegramChannel
from assistant.gateway import (
    NO_FILES,
    AllowList,
    Gateway,
    Media,
    Router,
    file_words,
    max_attachment_bytes,
)
from assistant.messages import ChatRef
from assistant.transcribe import (
    NOT_CONFIGURED,
    CommandTranscriber,
    EndpointTranscriber,
    Transcriber,
    transcriber_from_env,
    vocabulary_prompt,
)
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.fake_transcription import FakeTranscriptionServer
from tests.channels.scripted_ports import ScriptedAssistant, ScriptedRelay
from tests.channels.waiting import eventually

OWNER, STRANGER, GROUP = 42, 666, -1001234
SCRIPT = Path(__file__).with_name("fake_transcribe.py")


async def wait_for(fake: FakeTelegram, method: str, predicate: Any = lambda _: True) -> dict:
    return await asyncio.to_thread(fake.wait_for, method, predicate)


def texts(fake: FakeTelegram) -> list[str]:
    return [p["text"] for p in fake.sent()]


def vocabulary(chat: ChatRef) -> list[str]:
    return ["Ironman Training", "wt-ironman"] if chat.is_direct else ["builder_loop.py"]


@pytest.fixture
def transcription_server() -> Iterator[FakeTranscriptionServer]:
    server = FakeTranscriptionServer().start()
    yield server
    server.close()


@pytest.fixture
def command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CommandTranscriber:
    monkeypatch.setenv("FAKE_TRANSCRIBE_PROMPT_FILE", str(tmp_path / "prompt.txt"))
    return CommandTranscriber(f"{shlex.quote(sys.executable)} {SCRIPT} {{file}} {{prompt}}")


@pytest.fixture
def scripted_relay_bound(scripted_relay: ScriptedRelay) -> ScriptedRelay:
    scripted_relay.bound.add(f"telegram:{GROUP}")
    return scripted_relay


@pytest.fixture
async def serve(
    fake_telegram: FakeTelegram,
    scripted_assistant: ScriptedAssistant,
    scripted_relay_bound: ScriptedRelay,
) -> AsyncIterator[Any]:
    """Starts a gateway with the given transcriber; stopped at the end of the test."""
    gateways: list[Gateway] = []

    async def start(transcriber: Transcriber | None) -> Gateway:
        router = Router(
            allow=AllowList.of(telegram=[str(OWNER)]),
            assistant=scripted_assistant,
            relay=scripted_relay_bound,
            media=Media(transcriber, vocabulary),
        )
        channel = TelegramChannel(
            fake_telegram.token, base_url=fake_telegram.base_url, poll_timeout=1
        )
        gateway = Gateway(router, [channel])
        await gateway.start()
        gateways.append(gateway)
        return gateway

    yield start
    for gateway in gateways:
        await gateway.stop()


async def test_a_dm_voice_note_is_transcribed_by_the_command_and_answered_as_text(
    serve: Any,
    fake_telegram: FakeTelegram,
    command: CommandTranscriber,
    scripted_assistant: ScriptedAssistant,
    tmp_path: Path,
) -> None:
    await serve(command)
    fake_telegram.voice_message(OWNER, OWNER, b"how is Ironman Training going")
    await wait_for(fake_telegram, "sendMessage", lambda p: p["text"].startswith("you said"))
    # what was heard comes first, so a wrong transcript can be caught
    assert texts(fake_telegram) == snapshot(
        ["🎙 how is Ironman Training going", "you said: how is Ironman Training going"]
    )
    assert scripted_assistant.seen[0].attachment is None
    assert fake_telegram.downloads() == ["voice/file_1.oga"]
    assert (tmp_path / "prompt.txt").read_text() == "Ironman Training, wt-ironman"


async def test_a_voice_note_in_a_bound_chat_goes_to_the_builder_through_the_endpoint(
    serve: Any,
    fake_telegram: FakeTelegram,
    transcription_server: FakeTranscriptionServer,
    scripted_relay_bound: ScriptedRelay,
) -> None:
    endpoint = EndpointTranscriber(transcription_server.url, model="whisper-large", api_key="sk-t")
    await serve(endpoint)
    fake_telegram.voice_message(GROUP, OWNER, b"fix the loop in builder_loop.py", group=True)
    await wait_for(fake_telegram, "sendMessage", lambda p: p["text"].startswith("→ builder"))
    assert texts(fake_telegram) == snapshot(
        ["🎙 fix the loop in builder_loop.py", "→ builder: fix the loop in builder_loop.py"]
    )
    [request] = transcription_server.requests
    assert request.path == "/v1/audio/transcriptions"
    assert request.authorization == "Bearer sk-t"
    assert (request.fields["model"], request.fields["prompt"]) == (
        "whisper-large",
        "builder_loop.py",
    )
    assert (request.filename, request.audio) == ("voice.ogg", b"fix the loop in builder_loop.py")
    assert scripted_relay_bound.seen[0].text == "fix the loop in builder_loop.py"


async def test_without_a_transcriber_one_line_says_how_to_set_one_up(
    serve: Any, fake_telegram: FakeTelegram, scripted_assistant: ScriptedAssistant
) -> None:
    await serve(None)
    fake_telegram.voice_message(OWNER, OWNER, b"hello")
    sent = await wait_for(fake_telegram, "sendMessage")
    assert sent["text"] == NOT_CONFIGURED
    assert "FOREMAN_TRANSCRIBE_COMMAND" in NOT_CONFIGURED
    assert scripted_assistant.seen == []
    assert fake_telegram.downloads() == []


async def test_a_failing_command_and_a_refusing_endpoint_are_one_line_each(
    serve: Any,
    fake_telegram: FakeTelegram,
    command: CommandTranscriber,
    transcription_server: FakeTranscriptionServer,
    scripted_assistant: ScriptedAssistant,
) -> None:
    gateway = await serve(command)
    fake_telegram.voice_message(OWNER, OWNER, b"FAIL")
    sent = await wait_for(fake_telegram, "sendMessage")
    assert sent["text"] == snapshot(
        "🎙 I couldn't transcribe that voice note: the transcribe command failed (exit 2): "
        "error: failed to read audio file"
    )
    transcription_server.status = 401
    gateway.router.media.transcriber = EndpointTranscriber(transcription_server.url)
    fake_telegram.voice_message(OWNER, OWNER, b"hello")
    second = await wait_for(fake_telegram, "sendMessage", lambda p: "401" in p["text"])
    assert second["text"] == snapshot(
        "🎙 I couldn't transcribe that voice note: the transcription endpoint answered 401"
    )
    assert scripted_assistant.seen == []


async def test_a_strangers_voice_note_is_neither_downloaded_nor_transcribed(
    serve: Any,
    fake_telegram: FakeTelegram,
    transcription_server: FakeTranscriptionServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="foreman.gateway.router")
    await serve(EndpointTranscriber(transcription_server.url))
    update = fake_telegram.voice_message(STRANGER, STRANGER, b"move everything to done")
    group_update = fake_telegram.voice_message(GROUP, STRANGER, b"push to main", group=True)
    for update_id in (update, group_update):
        await asyncio.to_thread(fake_telegram.wait_until_consumed, update_id)
    # the router has decided both (and would have fetched a file before deciding to ignore it)
    await eventually(lambda: _ignored(caplog) == 2)
    assert fake_telegram.downloads() == []
    assert transcription_server.requests == []
    assert fake_telegram.sent() == []


async def test_a_voice_note_past_the_limit_is_refused_before_download(
    serve: Any, fake_telegram: FakeTelegram, command: CommandTranscriber
) -> None:
    await serve(command)
    # announced as 25 MB (the default limit is 20), without sending 25 MB through the test
    fake_telegram.voice_message(OWNER, OWNER, b"a long story", size=25 * 1024 * 1024)
    sent = await wait_for(fake_telegram, "sendMessage")
    assert sent["text"] == snapshot(
        "📎 voice.ogg is 25.0 MB, more than the 20 MB limit (FOREMAN_MAX_ATTACHMENT_MB); "
        "send a smaller file."
    )
    assert fake_telegram.downloads() == []


async def test_a_dm_photo_goes_to_the_assistant_and_a_dm_file_gets_a_clear_line(
    serve: Any, fake_telegram: FakeTelegram, scripted_assistant: ScriptedAssistant
) -> None:
    await serve(None)
    fake_telegram.document_message(
        OWNER, OWNER, b"Traceback", "trace.log", "text/plain", "why?", group=False
    )
    refusal = await wait_for(fake_telegram, "sendMessage")
    fake_telegram.photo_message(OWNER, OWNER, b"\xff\xd8jpeg", "what is wrong here?", group=False)
    await wait_for(fake_telegram, "sendMessage", lambda p: p["text"].startswith("you said"))
    assert refusal["text"] == NO_FILES
    [photo] = scripted_assistant.seen
    assert photo.text == "what is wrong here?"
    assert photo.attachment is not None and photo.attachment.mime == "image/jpeg"
    # the assistant downloads the image only if its model can look at it; the file never
    assert fake_telegram.downloads() == []


def test_the_attachment_limit_comes_from_the_environment() -> None:
    assert max_attachment_bytes({}) == 20 * 1024 * 1024
    assert max_attachment_bytes({"FOREMAN_MAX_ATTACHMENT_MB": "1.5"}) == 1572864
    assert max_attachment_bytes({"FOREMAN_MAX_ATTACHMENT_MB": "lots"}) == 20 * 1024 * 1024


def test_the_transcriber_comes_from_the_environment() -> None:
    assert transcriber_from_env({}) is None
    assert transcriber_from_env({"FOREMAN_TRANSCRIBE_COMMAND": "whisper {file}"}) == (
        CommandTranscriber("whisper {file}")
    )
    assert transcriber_from_env(
        {"FOREMAN_TRANSCRIBE_URL": "http://127.0.0.1:9/v1", "FOREMAN_TRANSCRIBE_API_KEY": "k"}
    ) == EndpointTranscriber("http://127.0.0.1:9/v1", "whisper-1", "k")


def test_the_vocabulary_is_distinct_and_bounded(tmp_path: Path) -> None:
    (tmp_path / "src" / "deep").mkdir(parents=True)
    (tmp_path / "src" / "deep" / "leaf.py").write_text("")
    (tmp_path / "README.md").write_text("")
    (tmp_path / ".git").mkdir()
    (tmp_path / "node_modules").mkdir()
    # shallowest first: the names a user says most come before deep ones
    assert file_words(tmp_path) == ["README.md", "src", "deep", "leaf.py"]
    assert file_words(tmp_path, limit=2) == ["README.md", "src"]
    assert vocabulary_prompt(["Ironman", "ironman", "x" * 10, "y" * 10], limit=25) == (
        "Ironman, xxxxxxxxxx"
    )


def _ignored(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage().startswith("ignored a ") for r in caplog.records)

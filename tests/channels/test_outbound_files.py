"""Files sent with a message: real python-telegram-bot uploading to the fake Bot API (which
takes `sendDocument` as the real one does), the fake's own upload rules, and WhatsApp document
messages through real neonize on the stand-in Go library."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from inline_snapshot import snapshot

from assistant.channels.telegram import TelegramChannel
from assistant.channels.whatsapp import WhatsAppChannel
from assistant.gateway import AllowList, Gateway, Router
from assistant.messages import ChatRef, Choice, Outbound, OutboundFile
from tests.channels.fake_neonize import WhatsAppSim
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.scripted_ports import ScriptedAssistant, ScriptedRelay
from tests.channels.waiting import eventually

OWNER, GROUP, TOPIC = 42, -1001234, 77
DM = ChatRef("telegram", str(OWNER))
PATCH = OutboundFile(
    "0015-new-feature.diff", "text/x-diff", b"--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
)


@pytest.fixture
async def channel(
    fake_telegram: FakeTelegram,
    scripted_assistant: ScriptedAssistant,
    scripted_relay: ScriptedRelay,
) -> AsyncIterator[TelegramChannel]:
    router = Router(
        allow=AllowList.of(telegram=[str(OWNER)]),
        assistant=scripted_assistant,
        relay=scripted_relay,
    )
    tg = TelegramChannel(
        fake_telegram.token, base_url=fake_telegram.base_url, poll_timeout=1, retry_delays=(0.05,)
    )
    gw = Gateway(router, [tg])
    await gw.start()
    yield tg
    await gw.stop()


def calls(fake: FakeTelegram) -> list[tuple[str, Any]]:
    """What the bot sent: (method, text or caption or file name)."""
    shown = []
    for call in fake.calls:
        if call.method == "sendMessage":
            shown.append(("sendMessage", call.params["text"]))
        elif call.method == "sendDocument":
            document = call.params["_result"]["document"] if "_result" in call.params else {}
            shown.append(("sendDocument", (document.get("file_name"), call.params.get("caption"))))
    return shown


async def test_a_short_text_and_one_file_go_as_one_document_served_back_by_get_file(
    channel: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    sent_id = await channel.send(Outbound(DM, "0015-new-feature: 1 file, +1 −1", files=(PATCH,)))

    assert calls(fake_telegram) == snapshot(
        [("sendDocument", ("0015-new-feature.diff", "0015-new-feature: 1 file, +1 −1"))]
    )
    message = fake_telegram.sent("sendDocument")[0]["_result"]
    assert sent_id == str(message["message_id"])
    document = message["document"]
    assert (document["file_name"], document["mime_type"], document["file_size"]) == (
        "0015-new-feature.diff",
        "text/x-diff",
        len(PATCH.data),
    )
    # what a user's phone downloads: getFile, then the file URL, as for any document
    assert channel.app is not None
    file = await channel.app.bot.get_file(document["file_id"])
    assert bytes(await file.download_as_bytearray()) == PATCH.data


async def test_a_long_text_choices_or_several_files_go_first_then_each_document(
    channel: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    report = OutboundFile("report.csv", "text/csv", b"a,b\n1,2\n")
    await channel.send(Outbound(DM, "x" * 1025, files=(PATCH,)))
    await channel.send(
        Outbound(DM, "Pick one", choices=(Choice("Keep", "keep:a1"),), files=(PATCH,))
    )
    await channel.send(Outbound(DM, "Two files", files=(PATCH, report)))

    assert [(m, t if m == "sendDocument" else t[:12]) for m, t in calls(fake_telegram)] == snapshot(
        [
            ("sendMessage", "xxxxxxxxxxxx"),
            ("sendDocument", ("0015-new-feature.diff", None)),
            ("sendMessage", "Pick one"),
            ("sendDocument", ("0015-new-feature.diff", None)),
            ("sendMessage", "Two files"),
            ("sendDocument", ("0015-new-feature.diff", None)),
            ("sendDocument", ("report.csv", None)),
        ]
    )
    keyboard = fake_telegram.sent("sendMessage")[1]["reply_markup"]
    assert keyboard == {"inline_keyboard": [[{"text": "Keep", "callback_data": "keep:a1"}]]}


async def test_a_file_telegram_would_refuse_is_one_line_instead(
    channel: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    big = OutboundFile("huge.log", "text/plain", b"x" * (50 * 1024 * 1024 + 1))
    empty = OutboundFile("empty.txt", "text/plain", b"")
    await channel.send(Outbound(DM, "Done", files=(big, empty, PATCH)))

    assert calls(fake_telegram) == snapshot(
        [
            ("sendMessage", "Done"),
            (
                "sendMessage",
                "📎 huge.log (50.0 MB) is over the 50 MB Telegram lets a bot send; not sent.",
            ),
            ("sendMessage", "📎 empty.txt is empty; nothing to send."),
            ("sendDocument", ("0015-new-feature.diff", None)),
        ]
    )


async def test_a_document_goes_into_the_forum_topic_of_the_chat(
    channel: TelegramChannel, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.forum(GROUP, TOPIC)
    topic = ChatRef("telegram", str(GROUP), str(TOPIC), is_direct=False)
    await channel.send(Outbound(topic, "the patch", files=(PATCH,), priority="progress"))
    sent = fake_telegram.sent("sendDocument")[0]
    assert (sent["message_thread_id"], sent["disable_notification"]) == (str(TOPIC), "true")
    assert sent["_result"]["message_thread_id"] == TOPIC


def post_document(fake: FakeTelegram, data: bytes, caption: str = "") -> httpx.Response:
    fields = {"chat_id": str(OWNER), **({"caption": caption} if caption else {})}
    return httpx.post(
        f"{fake.base_url}{fake.token}/sendDocument",
        data=fields,
        files={"document": ("notes.txt", data, "text/plain")},
        timeout=30,
    )


async def test_the_fake_refuses_uploads_as_the_real_api_does(fake_telegram: FakeTelegram) -> None:
    empty, long_caption, too_big = await asyncio.gather(
        asyncio.to_thread(post_document, fake_telegram, b""),
        asyncio.to_thread(post_document, fake_telegram, b"hi", "c" * 1025),
        asyncio.to_thread(post_document, fake_telegram, b"x" * (50 * 1024 * 1024 + 1)),
    )
    assert (empty.status_code, empty.json()["description"]) == (
        400,
        "Bad Request: file must be non-empty",
    )
    assert (long_caption.status_code, long_caption.json()["description"]) == (
        400,
        "Bad Request: message caption is too long",
    )
    assert (too_big.status_code, too_big.json()["description"]) == (
        413,
        "Request Entity Too Large",
    )
    ok = await asyncio.to_thread(post_document, fake_telegram, b"hi", "c" * 1024)
    assert ok.json()["result"]["document"]["file_size"] == 2


WA_OWNER = "491701234567@s.whatsapp.net"
WA_GROUP = "120363111111111111@g.us"


@pytest.fixture
def wa_client(tmp_path: Path) -> Iterator[WhatsAppSim]:
    sim = WhatsAppSim(tmp_path / "state" / "whatsapp.db", linked=WA_OWNER)
    yield sim
    sim.close()


@pytest.fixture
async def whatsapp(
    wa_client: WhatsAppSim,
    scripted_assistant: ScriptedAssistant,
    scripted_relay: ScriptedRelay,
) -> AsyncIterator[WhatsAppChannel]:
    router = Router(
        allow=AllowList.of(whatsapp=[WA_OWNER]), assistant=scripted_assistant, relay=scripted_relay
    )
    wa = WhatsAppChannel(wa_client.client, session=wa_client.db, watchdog_seconds=0.05)
    gateway = Gateway(router, [wa])
    await gateway.start()
    await eventually(lambda: wa.health().state == "connected")
    yield wa
    await gateway.stop()


async def test_whatsapp_sends_a_document_message_with_the_uploaded_bytes(
    whatsapp: WhatsAppChannel, wa_client: WhatsAppSim
) -> None:
    group = ChatRef("whatsapp", WA_GROUP, is_direct=False)
    report = OutboundFile("report.csv", "text/csv", b"a,b\n1,2\n")
    empty = OutboundFile("empty.txt", "text/plain", b"")
    one = await whatsapp.send(Outbound(group, "0015-new-feature: 1 file, +1 −1", files=(PATCH,)))
    await whatsapp.send(Outbound(group, "Done", files=(PATCH, report, empty)))

    documents = [(d.to, d.filename, d.mime, d.caption) for d in wa_client.go.documents]
    assert documents == snapshot(
        [
            (WA_GROUP, "0015-new-feature.diff", "text/x-diff", "0015-new-feature: 1 file, +1 −1"),
            (WA_GROUP, "0015-new-feature.diff", "text/x-diff", ""),
            (WA_GROUP, "report.csv", "text/csv", ""),
        ]
    )
    assert [d.data for d in wa_client.go.documents] == [PATCH.data, PATCH.data, report.data]
    assert one == wa_client.go.documents[0].id
    assert [(s.to, s.text) for s in wa_client.sent] == snapshot(
        [(WA_GROUP, "Done"), (WA_GROUP, "📎 empty.txt is empty; nothing to send.")]
    )

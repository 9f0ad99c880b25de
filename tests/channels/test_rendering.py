"""What a user sees of a relay notification: each channel renders its choices (buttons or
numbered replies) and splits long text, the relay only says what to tell."""

from __future__ import annotations

from pathlib import Path

import pytest
from inline_snapshot import snapshot

from assistant.approvals import parse_press
from assistant.channels import split_text
from assistant.channels.telegram import TelegramChannel
from assistant.channels.whatsapp import WhatsAppChannel
from assistant.gateway import AllowList, Gateway, Router
from assistant.messages import ButtonData
from assistant.relay import IDLE, Binding, Relay, classify, read_stream, save_binding
from assistant.store import open_store
from tests.channels.fake_neonize import WhatsAppSim
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.waiting import eventually
from tools.opencode import OpenCodeClient

BUILDER = "0014-ironman-training"
TELEGRAM_OWNER, TELEGRAM_GROUP = "42", "-1001234"
WHATSAPP_OWNER = "491701234567@s.whatsapp.net"
WHATSAPP_GROUP = "120363111111111111@g.us"


async def test_a_builder_permission_request_shows_its_choices_once_on_each_platform(
    fake_telegram: FakeTelegram, corpus: Path, tmp_path: Path
) -> None:
    # a real permission request, as OpenCode 1.18.33 sent it
    stream = corpus / "opencode-1.18.33" / "global-event-stream.jsonl"
    asked = next(e for e in read_stream(stream) if e.type == "permission.asked")
    _, notification = classify(IDLE, asked)
    assert notification is not None

    (tmp_path / "ws" / ".builders" / BUILDER).mkdir(parents=True)
    store = open_store(tmp_path / "state")
    save_binding(store, Binding("telegram", TELEGRAM_GROUP, BUILDER), "test")
    save_binding(store, Binding("whatsapp", WHATSAPP_GROUP, BUILDER), "test")
    principals = {f"telegram:{TELEGRAM_OWNER}", f"whatsapp:{WHATSAPP_OWNER}"}
    # the delivery path makes no OpenCode call: nothing listens on this port
    opencode = OpenCodeClient("http://127.0.0.1:9")
    relay = Relay(store, opencode, tmp_path / "ws", principals, projects=lambda: ())
    whatsapp = WhatsAppSim(tmp_path / "state" / "whatsapp.db", linked=WHATSAPP_OWNER)
    channels = [
        TelegramChannel(fake_telegram.token, base_url=fake_telegram.base_url, poll_timeout=1),
        WhatsAppChannel(
            whatsapp.client, session=whatsapp.db, watchdog_seconds=0.05, backoff=(0.1,)
        ),
    ]
    allow = AllowList.of(telegram=[TELEGRAM_OWNER], whatsapp=[WHATSAPP_OWNER])
    gateway = Gateway(Router(allow=allow, relay=relay), channels)
    await gateway.start()
    try:
        await eventually(lambda: channels[1].health().state == "connected")
        assert await relay.deliver(BUILDER, notification, gateway.send) is True
    finally:
        await gateway.stop()
        whatsapp.close()
        await opencode.aclose()
        store.close()

    (on_telegram,) = fake_telegram.sent()
    buttons = [
        [(b["text"], b["callback_data"]) for b in row]
        for row in on_telegram["reply_markup"]["inline_keyboard"]
    ]
    assert (on_telegram["text"], buttons) == snapshot(
        (
            """\
🔒 Approval needed: bash `rm -f nothing.txt`
To deny with a reason: /deny REASON\
""",
            [
                [
                    ("Allow once", "perm:per_200d8a3ac001N365c8fqbm704w:once"),
                    ("Always allow", "perm:per_200d8a3ac001N365c8fqbm704w:always"),
                    ("Deny", "perm:per_200d8a3ac001N365c8fqbm704w:reject"),
                ]
            ],
        )
    )
    (on_whatsapp,) = whatsapp.sent
    assert on_whatsapp.text == snapshot("""\
🔒 Approval needed: bash `rm -f nothing.txt`
To deny with a reason: /deny REASON

Reply 1 to allow once, 2 to always allow, 3 to deny.\
""")
    # each choice once: a button on Telegram, one numbered reply on WhatsApp
    assert "Allow once" not in on_telegram["text"]
    assert on_whatsapp.text.lower().count("allow once") == 1


def test_one_splitter_cuts_long_text_at_line_then_word_breaks() -> None:
    text = "\n".join(f"line {n} " + "x" * 50 for n in range(200))
    pieces = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == text
    assert split_text("word " * 30, 40) == snapshot(
        [
            "word word word word word word word word",
            "word word word word word word word word",
            "word word word word word word word word",
            "word word word word word word ",
        ]
    )


def test_every_button_speaks_one_format_and_each_reader_takes_only_its_own() -> None:
    permission = ButtonData.parse("perm:per_200d8a3ac001N365c8fqbm704w:once")
    assert permission == ButtonData("perm", "per_200d8a3ac001N365c8fqbm704w", "once")
    assert parse_press(permission.encode()) is None  # not an approval card's button
    assert parse_press(ButtonData("approve", "A1B2").encode()) == ("approve", "a1b2")
    assert ButtonData.parse("perm:../../etc:once") is None
    # the longest data a button can carry still fits Telegram's 64 bytes
    assert len(ButtonData("perm", "p" * 48, "always").encode()) <= 64
    with pytest.raises(ValueError, match="not valid button data"):
        ButtonData("perm", "p" * 49, "always").encode()

"""The WhatsApp channel's messages, through real neonize on a stand-in Go library (fake_neonize)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from inline_snapshot import snapshot

from assistant.channels.whatsapp import MESSAGE_LIMIT, WhatsAppChannel
from assistant.gateway import NOT_YOURS, AllowList, Gateway, Router
from assistant.messages import ChatRef, Choice, Outbound
from tests.channels.fake_neonize import WhatsAppSim
from tests.channels.scripted_ports import ScriptedAssistant, ScriptedRelay
from tests.channels.waiting import eventually

OWNER = "491701234567@s.whatsapp.net"
STRANGER = "15550100000@s.whatsapp.net"
GROUP = "120363111111111111@g.us"
OTHER_GROUP = "120363999999999999@g.us"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[WhatsAppSim]:
    sim = WhatsAppSim(tmp_path / "state" / "whatsapp.db", linked=OWNER)
    yield sim
    sim.close()


@pytest.fixture
async def channel(
    client: WhatsAppSim,
    scripted_assistant: ScriptedAssistant,
    scripted_relay: ScriptedRelay,
) -> AsyncIterator[WhatsAppChannel]:
    scripted_relay.bound.add(f"whatsapp:{GROUP}")
    router = Router(
        allow=AllowList.of(whatsapp=[OWNER]), assistant=scripted_assistant, relay=scripted_relay
    )
    wa = WhatsAppChannel(client.client, session=client.db, watchdog_seconds=0.05, backoff=(0.1,))
    gateway = Gateway(router, [wa])
    await gateway.start()
    await eventually(lambda: wa.health().state == "connected")
    yield wa
    await gateway.stop()


async def test_dms_go_to_the_assistant_and_bound_groups_to_the_relay(
    channel: WhatsAppChannel,
    client: WhatsAppSim,
    scripted_assistant: ScriptedAssistant,
    scripted_relay: ScriptedRelay,
) -> None:
    await client.receive(OWNER, OWNER, "/projects")
    await client.receive(GROUP, OWNER, "run the tests")
    assert [(s.to, s.text) for s in client.sent] == [
        (OWNER, "you said: /projects"),
        (GROUP, "→ builder: run the tests"),
    ]
    assert scripted_assistant.seen[0].chat == ChatRef("whatsapp", OWNER, is_direct=True)
    assert scripted_assistant.seen[0].sender.display_name == "Ada"
    assert scripted_relay.seen[0].chat == ChatRef("whatsapp", GROUP, is_direct=False)


async def test_own_messages_edits_strangers_and_unbound_groups_are_skipped(
    channel: WhatsAppChannel,
    client: WhatsAppSim,
    scripted_assistant: ScriptedAssistant,
    scripted_relay: ScriptedRelay,
) -> None:
    await client.receive(OWNER, OWNER, "sent from my phone", from_me=True)
    await client.receive(OWNER, OWNER, "edited", is_edit=True)
    await client.receive(STRANGER, STRANGER, "hi, I am new")
    await client.receive(GROUP, STRANGER, "a member who is not the principal")
    await client.receive(OTHER_GROUP, OWNER, "not bound")
    await client.receive("status@broadcast", OWNER, "a status update")
    assert scripted_assistant.seen == [] and scripted_relay.seen == []
    assert client.sent == []


async def test_a_sender_behind_a_lid_is_known_by_their_phone_number(
    channel: WhatsAppChannel, client: WhatsAppSim, scripted_assistant: ScriptedAssistant
) -> None:
    await client.receive("987654321@lid", "987654321@lid", "hello", sender_alt=OWNER)
    assert scripted_assistant.seen[0].sender.user_id == OWNER


async def test_approval_cards_are_numbered_replies(
    channel: WhatsAppChannel, client: WhatsAppSim, scripted_assistant: ScriptedAssistant
) -> None:
    await client.receive(OWNER, OWNER, "change 0001 to implementing")
    card = client.sent[-1]
    assert card.text == snapshot(
        """\
Change 0001 to implementing?

Reply 1 to approve, 2 to reject.\
"""
    )
    await client.receive(OWNER, OWNER, "1")
    press = scripted_assistant.seen[-1]
    assert (press.callback_data, press.message_id) == ("approve:a1", card.id)
    assert client.edits == [(OWNER, card.id, "Approval a1: approved.")]
    # the card is resolved: a later "1" is just text again
    await client.receive(OWNER, OWNER, "1")
    assert scripted_assistant.seen[-1].callback_data is None


async def test_a_number_out_of_range_is_plain_text(
    channel: WhatsAppChannel, client: WhatsAppSim, scripted_assistant: ScriptedAssistant
) -> None:
    await client.receive(OWNER, OWNER, "change 0001 to implementing")
    await client.receive(OWNER, OWNER, "3")
    assert scripted_assistant.seen[-1].callback_data is None
    assert scripted_assistant.resolved == []


async def test_a_stranger_answering_a_builder_permission_in_a_group_is_refused(
    channel: WhatsAppChannel, client: WhatsAppSim, scripted_relay: ScriptedRelay
) -> None:
    permission = Outbound(
        ChatRef("whatsapp", GROUP, is_direct=False),
        "🔒 builder-1 wants to run: rm -rf build",
        choices=(
            Choice("Allow once", "perm:p1:once"),
            Choice("Always", "perm:p1:always"),
            Choice("Deny", "perm:p1:reject"),
        ),
        kind="notification",
    )
    await channel.send(permission)
    assert client.sent[-1].text == snapshot(
        """\
🔒 builder-1 wants to run: rm -rf build

Reply 1 to allow once, 2 to always, 3 to deny.\
"""
    )
    await client.receive(GROUP, STRANGER, "2")
    assert scripted_relay.seen == []
    assert client.sent[-1].text == NOT_YOURS
    await client.receive(GROUP, OWNER, "1")
    assert scripted_relay.seen[-1].callback_data == "perm:p1:once"


async def test_long_questions_list_their_options_one_per_line(
    channel: WhatsAppChannel, client: WhatsAppSim
) -> None:
    options = ("Use PostgreSQL for everything", "Keep SQLite for tests", "Ask me later", "Skip")
    question = Outbound(
        ChatRef("whatsapp", GROUP, is_direct=False),
        "❓ Which database?",
        choices=tuple(Choice(o, f"q:q1:{n}") for n, o in enumerate(options)),
    )
    await channel.send(question)
    assert client.sent[-1].text == snapshot(
        """\
❓ Which database?

1. Use PostgreSQL for everything
2. Keep SQLite for tests
3. Ask me later
4. Skip
Reply with the number of your choice.\
"""
    )


async def test_long_messages_are_chunked(channel: WhatsAppChannel, client: WhatsAppSim) -> None:
    text = "\n".join(f"line {n}: " + "x" * 70 for n in range(200))  # ~16000 characters
    await channel.send(Outbound(ChatRef("whatsapp", OWNER), text))
    assert len(client.sent) == 5
    assert all(len(s.text) <= MESSAGE_LIMIT for s in client.sent)
    assert "\n".join(s.text for s in client.sent) == text


async def test_create_group_for_a_builder(channel: WhatsAppChannel, client: WhatsAppSim) -> None:
    chat = await channel.create_group("0014 auth rework", [OWNER])
    assert chat == ChatRef("whatsapp", "120363000000000001@g.us", is_direct=False)
    assert client.groups == [("0014 auth rework", [OWNER])]


async def test_the_chat_shows_composing_until_the_answer(
    channel: WhatsAppChannel, client: WhatsAppSim
) -> None:
    from neonize.utils.enum import ChatPresence

    await client.receive(OWNER, OWNER, "/projects")
    await eventually(lambda: len(client.presences) >= 2)
    assert client.presences == [
        (OWNER, ChatPresence.CHAT_PRESENCE_COMPOSING.value),
        (OWNER, ChatPresence.CHAT_PRESENCE_PAUSED.value),
    ]
    assert [s.text for s in client.sent] == ["you said: /projects"]

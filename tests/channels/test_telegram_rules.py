"""The Telegram channel under the real Bot API's rules, as the fake Bot API enforces them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from inline_snapshot import snapshot

from assistant.channels import ChannelError, Undeliverable
from assistant.channels.telegram import WORKING, TelegramChannel
from assistant.gateway import AllowList, Gateway, Router
from assistant.messages import ChatRef, Inbound, Outbound
from tests.channels.fake_telegram import STALE_QUERY, FakeTelegram

OWNER, GROUP, TOPIC = 42, -1001234, 77


async def wait_for(fake: FakeTelegram, method: str, predicate: Any = lambda _: True) -> dict:
    return await asyncio.to_thread(fake.wait_for, method, predicate)


class SlowApprover:
    """An approval whose action outlasts Telegram's answer deadline: it finishes only once the
    press could no longer be answered."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    async def handle(self, message: Inbound) -> list[Outbound]:
        if message.callback_data is None:
            return [Outbound(message.chat, "Card", choices=())]
        # the action runs past the deadline (a long git commit, a slow test run)
        await asyncio.to_thread(self.fake.wait_for, "answerCallbackQuery")
        await asyncio.to_thread(self.fake.wait_until_stale, f"cq{self.press_update}")
        return [
            Outbound(
                message.chat, "Approval a1: ✅ approved", replaces_message_id=message.message_id
            ),
            Outbound(message.chat, "Done: 0001 is implementing."),
        ]

    press_update = 0


def channel_for(fake: FakeTelegram, **kwargs: Any) -> TelegramChannel:
    return TelegramChannel(
        fake.token, base_url=fake.base_url, poll_timeout=1, retry_delays=(0.05,), **kwargs
    )


@pytest.fixture
async def slow_gateway(fake_telegram: FakeTelegram) -> AsyncIterator[tuple[Gateway, SlowApprover]]:
    fake_telegram.answer_deadline = 2.0
    approver = SlowApprover(fake_telegram)
    router = Router(allow=AllowList.of(telegram=[str(OWNER)]), assistant=approver)
    gw = Gateway(router, [channel_for(fake_telegram)])
    await gw.start()
    yield gw, approver
    await gw.stop()


async def test_a_slow_approval_is_answered_at_once_then_edited_and_reported(
    slow_gateway: tuple[Gateway, SlowApprover], fake_telegram: FakeTelegram
) -> None:
    gateway, approver = slow_gateway
    card = await gateway.send(Outbound(ChatRef("telegram", str(OWNER)), "Change 0001?"))
    assert card is not None
    approver.press_update = fake_telegram.press(
        OWNER, fake_telegram.message(OWNER, int(card)), "approve:a1"
    )
    result = await wait_for(fake_telegram, "sendMessage", lambda p: p["text"].startswith("Done"))
    answer = fake_telegram.sent("answerCallbackQuery")[0]
    assert answer["text"] == WORKING and answer["_ok"]
    assert fake_telegram.message(OWNER, int(card))["text"] == "Approval a1: ✅ approved"
    assert result["text"] == "Done: 0001 is implementing."


async def test_a_refused_answer_costs_neither_the_edit_nor_the_result(
    slow_gateway: tuple[Gateway, SlowApprover], fake_telegram: FakeTelegram
) -> None:
    gateway, approver = slow_gateway
    fake_telegram.failures["answerCallbackQuery"] = [(400, STALE_QUERY, None)]
    card = await gateway.send(Outbound(ChatRef("telegram", str(OWNER)), "Change 0001?"))
    assert card is not None
    approver.press_update = fake_telegram.press(
        OWNER, fake_telegram.message(OWNER, int(card)), "approve:a1"
    )
    await wait_for(fake_telegram, "sendMessage", lambda p: p["text"].startswith("Done"))
    assert fake_telegram.message(OWNER, int(card))["text"] == "Approval a1: ✅ approved"


async def test_progress_is_silent_and_what_needs_you_rings(
    fake_telegram: FakeTelegram,
) -> None:
    channel = channel_for(fake_telegram)
    await channel.start(lambda message: asyncio.sleep(0, []))
    try:
        chat = ChatRef("telegram", str(OWNER))
        await channel.send(Outbound(chat, "🔨 Started", priority="progress"))
        await channel.send(Outbound(chat, "🔒 wants to run pytest", priority="needs_you"))
    finally:
        await channel.stop()
    assert [(p["text"], p.get("disable_notification")) for p in fake_telegram.sent()] == [
        ("🔨 Started", "true"),
        ("🔒 wants to run pytest", "false"),
    ]


async def test_typing_shows_while_the_assistant_works(fake_telegram: FakeTelegram) -> None:
    release = asyncio.Event()

    async def thinking(message: Inbound) -> list[Outbound]:
        await asyncio.to_thread(fake_telegram.wait_for, "sendChatAction")
        await release.wait()
        return [Outbound(message.chat, "thought it over")]

    channel = channel_for(fake_telegram)
    await channel.start(thinking)
    try:
        fake_telegram.dm(OWNER, "hello")
        typing = await wait_for(fake_telegram, "sendChatAction")
        release.set()
        await wait_for(fake_telegram, "sendMessage")
    finally:
        await channel.stop()
    assert (typing["chat_id"], typing["action"]) == (str(OWNER), "typing")


async def test_a_group_that_became_a_supergroup_is_followed_and_reported(
    fake_telegram: FakeTelegram,
) -> None:
    moves: list[tuple[str, str]] = []
    channel = channel_for(fake_telegram, on_migrated=lambda old, new: moves.append((old, new)))
    await channel.start(lambda message: asyncio.sleep(0, []))
    fake_telegram.migrated[-555] = -100555
    try:
        old = ChatRef("telegram", "-555", is_direct=False)
        await channel.send(Outbound(old, "first"))
        await channel.send(Outbound(old, "second"))
    finally:
        await channel.stop()
    assert moves == [("-555", "-100555")]
    delivered = [(p["chat_id"], p["text"]) for p in fake_telegram.sent() if "_result" in p]
    assert delivered == [("-100555", "first"), ("-100555", "second")]


async def test_topics_closed_deleted_and_general(fake_telegram: FakeTelegram) -> None:
    fake_telegram.forum(GROUP, TOPIC, 78)
    fake_telegram.topics[GROUP][78] = "closed"
    channel = channel_for(fake_telegram)
    await channel.start(lambda message: asyncio.sleep(0, []))
    try:
        for thread in (str(TOPIC), "78", "99", "1"):
            chat = ChatRef("telegram", str(GROUP), thread, is_direct=False)
            await channel.send(Outbound(chat, f"to {thread}"))
    finally:
        await channel.stop()
    delivered = [
        (p.get("message_thread_id"), p["text"]) for p in fake_telegram.sent() if "_result" in p
    ]
    assert delivered == snapshot(
        [
            ("77", "to 77"),
            (None, "(topic closed) to 78"),
            (None, "(topic not found) to 99"),
            (None, "to 1"),
        ]
    )


async def test_a_reply_thread_in_a_plain_supergroup_is_the_group_itself(
    fake_telegram: FakeTelegram,
) -> None:
    seen: list[Inbound] = []

    async def record(message: Inbound) -> list[Outbound]:
        seen.append(message)
        return [Outbound(message.chat, "noted")]

    channel = channel_for(fake_telegram)
    await channel.start(record)
    try:
        fake_telegram.reply_in_group(-1009, OWNER, "about that", reply_to=5)
        sent = await wait_for(fake_telegram, "sendMessage")
    finally:
        await channel.stop()
    assert seen[0].chat.key == "telegram:-1009"
    assert "message_thread_id" not in sent and "_result" in sent


async def test_a_user_who_never_started_the_bot_is_undeliverable(
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.never_started.add(4242)
    channel = channel_for(fake_telegram)
    await channel.start(lambda message: asyncio.sleep(0, []))
    try:
        with pytest.raises(Undeliverable, match="can't initiate conversation"):
            await channel.send(Outbound(ChatRef("telegram", "4242"), "a card"))
    finally:
        await channel.stop()
    assert len(fake_telegram.sent()) == 1  # refused once, not retried


async def test_an_unchanged_edit_and_empty_text_are_no_errors(fake_telegram: FakeTelegram) -> None:
    channel = channel_for(fake_telegram)
    await channel.start(lambda message: asyncio.sleep(0, []))
    try:
        chat = ChatRef("telegram", str(OWNER))
        sent = await channel.send(Outbound(chat, "same"))
        assert await channel.send(Outbound(chat, "same", replaces_message_id=sent)) == sent
        assert await channel.send(Outbound(chat, "  ")) is None
    finally:
        await channel.stop()
    refused = fake_telegram.sent("editMessageText")
    assert [p["_error"] for p in refused] == [
        snapshot(
            "Bad Request: message is not modified: specified new message content and reply markup "
            "are exactly the same as a current content and reply markup of the message"
        )
    ]


async def test_an_edit_longer_than_a_message_keeps_the_rest_as_new_messages(
    fake_telegram: FakeTelegram,
) -> None:
    # a builder's Done takes its status message's place by edit: a long reply loses nothing
    channel = channel_for(fake_telegram)
    await channel.start(lambda message: asyncio.sleep(0, []))
    try:
        chat = ChatRef("telegram", str(OWNER))
        status = await channel.send(Outbound(chat, "🔨 Started", priority="progress"))
        reply = "✅ Done\n" + "\n".join(f"line {n:04d} " + "x" * 90 for n in range(60))
        last = await channel.send(
            Outbound(chat, reply, replaces_message_id=status, priority="progress")
        )
    finally:
        await channel.stop()
    [edit] = fake_telegram.sent("editMessageText")
    rest = fake_telegram.sent()[1:]
    assert edit["message_id"] == status and edit["text"].startswith("✅ Done\nline 0000")
    assert [p["disable_notification"] for p in rest] == ["true"]  # progress stays silent
    assert last == str(rest[-1]["_result"]["message_id"])
    assert "\n".join([edit["text"], *(p["text"] for p in rest)]) == reply


async def test_a_second_poller_at_start_is_a_one_line_refusal(fake_telegram: FakeTelegram) -> None:
    first = channel_for(fake_telegram)
    await first.start(lambda message: asyncio.sleep(0, []))
    try:
        await asyncio.to_thread(fake_telegram.wait_until_polled)
        second = channel_for(fake_telegram)
        with pytest.raises(ChannelError) as refused:
            await second.start(lambda message: asyncio.sleep(0, []))
    finally:
        await first.stop()
    assert str(refused.value) == snapshot(
        "telegram: another process is already polling @foreman_test_bot; stop it first "
        "(one foreman serve per bot token)"
    )


async def test_the_command_menu_is_set_for_dms_and_groups(fake_telegram: FakeTelegram) -> None:
    menu = {
        "all_private_chats": [("projects", "list projects"), ("help", "what I understand")],
        "all_group_chats": [("status", "what the builder does"), ("stop", "stop its turn")],
    }
    channel = channel_for(fake_telegram, commands=menu)
    await channel.start(lambda message: asyncio.sleep(0, []))
    await channel.stop()
    assert {k: [c["command"] for c in v] for k, v in fake_telegram.commands.items()} == {
        "all_private_chats": ["projects", "help"],
        "all_group_chats": ["status", "stop"],
    }

"""The WhatsApp connection's lifecycle, on real neonize over a stand-in Go library (fake_neonize)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from neonize.proto import Neonize_pb2 as wa

from assistant.channels.whatsapp import WhatsAppChannel
from assistant.channels.whatsapp_client import go_calls
from assistant.channels.whatsapp_connection import logged
from assistant.channels.whatsapp_session import SessionState, read_session
from assistant.gateway import AllowList, Gateway, Router
from assistant.messages import ChatRef, Inbound, Outbound
from tests.channels.fake_neonize import WhatsAppSim
from tests.channels.waiting import eventually

OWNER = "491701234567@s.whatsapp.net"


async def echo(message: Inbound) -> list[Outbound]:
    return [Outbound(message.chat, f"you said: {message.text}")]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[WhatsAppSim]:
    linked = WhatsAppSim(tmp_path / "state" / "whatsapp.db", linked=OWNER)
    yield linked
    linked.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def channel(sim: WhatsAppSim, clock: Clock) -> AsyncIterator[WhatsAppChannel]:
    wa_channel = WhatsAppChannel(
        sim.client, session=sim.db, watchdog_seconds=0.05, backoff=(0.1,), clock=clock
    )
    await wa_channel.start(echo)
    await eventually(lambda: wa_channel.health().state == "connected")
    yield wa_channel
    await wa_channel.stop()


async def test_a_silent_disconnect_is_noticed_and_reconnected_with_backoff(
    channel: WhatsAppChannel, sim: WhatsAppSim
) -> None:
    sim.go.failing_connects = 2  # the network is still down for the first two attempts
    await sim.drop_silently()
    await eventually(lambda: channel.reconnects == 1)
    assert sim.go.connects == 1 + 3
    assert channel.health().summary().startswith("whatsapp connected 1 reconnects")
    await sim.receive(OWNER, OWNER, "still there?")
    assert sim.sent[-1].text == "you said: still there?"


async def test_a_reported_disconnect_is_also_recovered(
    channel: WhatsAppChannel, sim: WhatsAppSim
) -> None:
    await sim.drop_loudly()
    assert channel.health().state == "disconnected"
    await eventually(lambda: channel.reconnects == 1)
    assert channel.health().state == "connected"


async def test_no_network_at_start_is_seen_at_once_and_retried(
    sim: WhatsAppSim, caplog: pytest.LogCaptureFixture
) -> None:
    # the real connect() never raises: the error ends the connection task it scheduled
    sim.go.network = False
    channel = WhatsAppChannel(sim.client, session=sim.db, watchdog_seconds=30, backoff=(0.1,))
    await channel.start(echo)
    try:
        await eventually(lambda: channel.health().state != "connecting", timeout=5)
        assert channel.health().state in ("disconnected", "reconnecting")
        sim.go.network = True
        await eventually(lambda: channel.health().state == "connected", timeout=10)
    finally:
        await channel.stop()
    assert "never retrieved" not in caplog.text


async def test_a_missed_keepalive_is_not_a_disconnect_and_its_restore_is_seen(
    channel: WhatsAppChannel, sim: WhatsAppSim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "foreman")
    for count in (1, 2):
        await sim.deliver(wa.KeepAliveTimeout(ErrorCount=count, LastSuccess=1))
    assert channel.health().state == "not responding"
    assert caplog.records == []  # one or two misses are normal on a flaky network
    await sim.deliver(wa.KeepAliveTimeout(ErrorCount=3, LastSuccess=1))
    assert [r.getMessage() for r in caplog.records] == ["whatsapp: 3 keepalives unanswered"]
    await sim.deliver(wa.KeepAliveRestored())
    assert channel.health().state == "connected"
    assert channel.reconnects == 0 and sim.go.connects == 1


async def test_a_logout_stops_the_channel_and_says_what_to_do(
    channel: WhatsAppChannel, sim: WhatsAppSim
) -> None:
    await sim.log_out()
    health = channel.health()
    assert health.state == "logged out"
    assert health.attention == (
        "WhatsApp logged Foreman out (logged out): run `foreman whatsapp login` "
        "and restart foreman serve"
    )
    await eventually(lambda: sim.go.stops >= 1)  # the client is stopped, never reconnected
    assert sim.go.connects == 1
    assert read_session(sim.db).state is SessionState.LOGGED_OUT


@pytest.mark.parametrize(
    ("event", "state", "says"),
    [
        (wa.StreamReplaced(), "replaced", "another program connected with this WhatsApp session"),
        (wa.ClientOutdated(), "client outdated", "upgrade neonize"),
        (
            wa.ConnectFailure(Reason=wa.ConnectFailureReason.MAIN_DEVICE_GONE, Message="gone"),
            "logged out",
            "(main device gone)",
        ),
    ],
)
async def test_events_that_reconnecting_cannot_fix_stop_the_channel(
    channel: WhatsAppChannel, sim: WhatsAppSim, event: object, state: str, says: str
) -> None:
    await sim.deliver(event)
    assert channel.health().state == state
    assert says in channel.health().attention
    await eventually(lambda: sim.go.stops >= 1)
    assert sim.go.connects == 1  # two programs on one session would kick each other off


async def test_a_passing_connect_failure_is_retried(
    channel: WhatsAppChannel, sim: WhatsAppSim
) -> None:
    await sim.drop_silently()
    failure = wa.ConnectFailure(
        Reason=wa.ConnectFailureReason.SERVICE_UNAVAILABLE, Message="try later"
    )
    await sim.deliver(failure)
    await eventually(lambda: channel.reconnects == 1)
    assert channel.health().state == "connected"


async def test_a_temporary_ban_waits_until_it_expires(
    channel: WhatsAppChannel, sim: WhatsAppSim, clock: Clock
) -> None:
    await sim.drop_silently()
    await sim.deliver(wa.TemporaryBan(Code=wa.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600))
    assert channel.health().state == "temporarily banned"
    assert channel.health().attention.endswith(
        "until 2026-12-01 13:00 UTC; Foreman reconnects after that"
    )
    connects = sim.go.connects
    # several watchdog rounds look at the clock inside the ban: nothing is tried
    sim.go.failing_connects = 0
    connection = channel.connection
    for _ in range(3):
        clock.now += timedelta(minutes=10)
        checks = connection.checks
        # two more rounds: at least one of them began after the clock moved
        await eventually(lambda checks=checks: connection.checks >= checks + 2)
    assert sim.go.connects == connects
    clock.now += timedelta(hours=1)
    await eventually(lambda: channel.health().state == "connected")
    assert channel.health().attention == ""


async def test_a_connection_call_stuck_in_go_is_never_stacked(
    channel: WhatsAppChannel, sim: WhatsAppSim
) -> None:
    sim.go.stop_hangs = True  # Stop no longer ends the connection call
    await sim.drop_silently()
    await eventually(lambda: sim.go.stops >= 3)  # several reconnect rounds
    assert sim.go.connects == 1  # none started while the first is still inside Go
    bridge = go_calls(sim.client)
    assert bridge is not None and bridge.connection.threads == 1
    # and nothing else waits behind it: asyncio's own executor is free
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 5) == "free"
    sim.go.stop_hangs = False
    sim.close()  # the stuck call returns at last
    await eventually(lambda: channel.reconnects == 1)


async def test_a_handler_that_raises_is_logged(
    sim: WhatsAppSim, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(client: object, event: object) -> None:
        raise RuntimeError("boom")

    channel = WhatsAppChannel(sim.client, session=sim.db)
    await channel.start(echo)
    await eventually(lambda: channel.health().state == "connected")
    from neonize.aioze.events import MessageEv

    sim.client.event(MessageEv)(logged(broken))
    try:
        await sim.receive(OWNER, OWNER, "hello")
    finally:
        await channel.stop()
    [record] = [r for r in caplog.records if r.name == "foreman.channels.whatsapp"]
    assert record.getMessage() == "whatsapp: handling Message failed"
    assert record.exc_info is not None and "boom" in str(record.exc_info[1])


async def test_an_unlinked_session_is_never_connected_and_the_principal_hears_it_elsewhere(
    tmp_path: Path,
) -> None:
    unlinked = WhatsAppSim(tmp_path / "state" / "whatsapp.db")
    whatsapp = WhatsAppChannel(unlinked.client, session=unlinked.db)
    other = RecordingChannel()
    router = Router(allow=AllowList.of(whatsapp=[OWNER], telegram=["42"]))
    gateway = Gateway(router, [other, whatsapp], attention_seconds=0.05)
    await gateway.start()
    try:
        await eventually(lambda: other.sent)
        health = gateway.health_line()
    finally:
        await gateway.stop()
        unlinked.close()
    assert unlinked.go.connects == 0  # no QR flow nobody would see
    assert [(m.chat.key, m.text) for m in other.sent] == [
        (
            "telegram:42",
            f"⚠️ whatsapp: WhatsApp is not linked: run `foreman whatsapp login` ({unlinked.db})",
        )
    ]
    assert "whatsapp not linked — WhatsApp is not linked: run `foreman whatsapp login`" in health
    assert "telegram recording" in health  # the rest of the gateway runs


class RecordingChannel:
    platform = "telegram"

    def __init__(self) -> None:
        self.sent: list[Outbound] = []

    async def start(self, on_inbound: object) -> None:
        pass

    async def send(self, message: Outbound) -> str | None:
        self.sent.append(message)
        return "1"

    async def stop(self) -> None:
        pass

    def health(self):  # type: ignore[no-untyped-def]
        from assistant.channels import ChannelHealth

        return ChannelHealth("telegram", "recording")


async def test_only_a_short_ascii_number_answers_a_card(
    channel: WhatsAppChannel, sim: WhatsAppSim
) -> None:
    from assistant.messages import Choice

    seen: list[Inbound] = []
    inbound = channel.inbound_from_event
    card = Outbound(
        ChatRef("whatsapp", OWNER),
        "Change 0001 to implementing?",
        choices=(Choice("Approve", "approve:a1"), Choice("Reject", "reject:a1")),
    )
    await channel.send(card)

    def event(text: str) -> object:
        source = wa.MessageSource(Chat=wa.JID(User="491701234567", Server="s.whatsapp.net"))
        source.Sender.CopyFrom(source.Chat)
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

        info = wa.MessageInfo(MessageSource=source, ID="X")
        return wa.Message(Info=info, Message=Message(conversation=text))

    for text in ("2", "²", "①", "١", "1" * 5000, "02 "):
        message = inbound(event(text))
        assert message is not None
        seen.append(message)
    # "²", "①" and "١" are digits to Python (int() raises or reads 1); "02" is two digits
    assert [m.callback_data for m in seen] == ["reject:a1", None, None, None, None, "reject:a1"]


async def test_a_message_sent_while_disconnected_fails_instead_of_vanishing(
    sim: WhatsAppSim,
) -> None:
    from neonize.exc import SendMessageError

    channel = WhatsAppChannel(sim.client, session=sim.db, watchdog_seconds=30)
    await channel.start(echo)
    try:
        await eventually(lambda: channel.health().state == "connected")
        await sim.drop_silently()
        with pytest.raises(SendMessageError, match="websocket not connected"):
            await channel.send(Outbound(ChatRef("whatsapp", OWNER), "anyone there?"))
    finally:
        await channel.stop()
    assert sim.sent == []

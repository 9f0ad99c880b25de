"""WhatsApp through neonize (whatsmeow): messages -> `Inbound`, `Outbound` -> numbered text.

WhatsApp has no buttons for a linked device, so a message with choices ends with its options
numbered, and a reply of just that number comes back as the choice's `callback_data`.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.channels._base import ChannelHealth, InboundHandler
from assistant.channels._chunks import split_text
from assistant.messages import ChatRef, Choice, Inbound, Outbound, Principal

log = logging.getLogger("foreman.channels.whatsapp")

# WhatsApp accepts far longer texts, but long ones are cut in notifications and hard to read
MESSAGE_LIMIT = 4000
USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"
_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)


def jid_text(jid: Any) -> str:
    """`user@server` for a neonize JID, without the device part (one user, many phones)."""
    return f"{jid.User}@{jid.Server}"


def to_jid(text: str) -> Any:
    from neonize.utils.jid import build_jid

    user, _, server = text.partition("@")
    return build_jid(user, server or USER_SERVER)


def message_text(message: Any) -> str:
    """The text of a WhatsApp message proto, plain or extended (a quote or a link)."""
    if message.conversation:
        return message.conversation
    if message.HasField("extendedTextMessage"):
        return message.extendedTextMessage.text
    return ""


def sender_id(source: Any) -> str:
    """The sender as a phone-number JID where WhatsApp gives one (LID addressing hides it)."""
    if source.Sender.Server == LID_SERVER and source.SenderAlt.User:
        return jid_text(source.SenderAlt)
    return jid_text(source.Sender)


def numbered(text: str, choices: tuple[Choice, ...]) -> str:
    """The text with its choices as numbered replies, saying how to answer."""
    if not choices:
        return text
    if len(choices) <= 3 and all(len(c.label) <= 20 for c in choices):
        options = ", ".join(
            f"{n} to {c.label[:1].lower()}{c.label[1:]}" for n, c in enumerate(choices, start=1)
        )
        return f"{text}\n\nReply {options}."
    lines = "\n".join(f"{n}. {c.label}" for n, c in enumerate(choices, start=1))
    return f"{text}\n\n{lines}\nReply with the number of your choice."


@dataclass(frozen=True)
class _Card:
    message_id: str
    choices: tuple[Choice, ...]


class WhatsAppChannel:
    """One linked WhatsApp account, with a watchdog that reconnects after silent disconnects."""

    platform = "whatsapp"

    def __init__(
        self,
        client: Any,
        *,
        watchdog_seconds: float = 30.0,
        backoff: tuple[float, ...] = _BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # `client` is a neonize NewAClient, or any object with its methods and events
        self.client = client
        self.watchdog_seconds = watchdog_seconds
        self.backoff = backoff
        self.clock = clock
        self.last_inbound: datetime | None = None
        self.reconnects = 0
        self._state = "stopped"
        self._connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._logged_out = False
        self._watchdog: asyncio.Task[None] | None = None
        self._on_inbound: InboundHandler | None = None
        # the latest message with choices in each chat: what a bare number answers
        self._cards: dict[str, _Card] = {}
        self._chat_locks: dict[str, asyncio.Lock] = {}

    async def start(self, on_inbound: InboundHandler) -> None:
        from neonize.aioze.events import (
            ConnectedEv,
            DisconnectedEv,
            KeepAliveTimeoutEv,
            LoggedOutEv,
            MessageEv,
        )

        self._on_inbound = on_inbound
        self.client.event(MessageEv)(self._on_message)
        self.client.event(ConnectedEv)(self._on_connected)
        self.client.event(DisconnectedEv)(self._on_disconnected)
        self.client.event(KeepAliveTimeoutEv)(self._on_disconnected)
        self.client.event(LoggedOutEv)(self._on_logged_out)
        self._state = "connecting"
        try:
            await self.client.connect()
        except Exception:
            # no network at start is like a drop later: the watchdog keeps trying
            log.warning("whatsapp: first connect failed; retrying", exc_info=True)
            self._state = "disconnected"
            self._wake.set()
        self._watchdog = asyncio.create_task(self._watch(), name="whatsapp-watchdog")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        try:
            await self.client.stop()
        except Exception:  # the Go side may already be gone; stopping must still succeed
            log.debug("whatsapp: stop failed", exc_info=True)
        self._state = "stopped"

    def health(self) -> ChannelHealth:
        detail = f"{self.reconnects} reconnects" if self.reconnects else ""
        return ChannelHealth("whatsapp", self._state, detail, self.last_inbound)

    # --- events ---------------------------------------------------------------------------

    async def _on_connected(self, client: Any, event: Any) -> None:
        self._state = "connected"
        self._connected.set()
        log.info("whatsapp: connected")

    async def _on_disconnected(self, client: Any, event: Any) -> None:
        self._state = "disconnected"
        self._connected.clear()
        self._wake.set()
        log.warning("whatsapp: disconnected (%s)", type(event).__name__)

    async def _on_logged_out(self, client: Any, event: Any) -> None:
        self._logged_out = True
        self._state = "logged out"
        self._connected.clear()
        log.error("whatsapp: logged out; run `foreman whatsapp login` again")

    async def _on_message(self, client: Any, event: Any) -> None:
        message = self.inbound_from_event(event)
        if message is None or self._on_inbound is None:
            return
        self.last_inbound = self.clock()
        # neonize runs each event handler as its own task: keep one chat's replies in order
        async with self._chat_locks.setdefault(message.chat.key, asyncio.Lock()):
            try:
                replies = await self._on_inbound(message)
                for reply in replies:
                    await self.send(reply)
            except Exception:
                log.exception("whatsapp: answering %s failed", message.sender.key)

    def inbound_from_event(self, event: Any) -> Inbound | None:
        """The message as an `Inbound`, or None for own messages, edits, status and media."""
        info = event.Info
        source = info.MessageSource
        if source.IsFromMe or event.IsEdit or info.Edit:
            return None
        if source.Chat.Server not in (USER_SERVER, GROUP_SERVER, LID_SERVER):
            return None  # status@broadcast, newsletters
        text = message_text(event.Message).strip()
        if not text:
            return None
        is_group = source.IsGroup or source.Chat.Server == GROUP_SERVER
        chat = ChatRef("whatsapp", jid_text(source.Chat), is_direct=not is_group)
        sender = Principal("whatsapp", sender_id(source), info.Pushname or None)
        card = self._cards.get(chat.key)
        if card is not None and text.isdigit() and 1 <= int(text) <= len(card.choices):
            choice = card.choices[int(text) - 1]
            return Inbound(
                chat, sender, text=text, message_id=card.message_id, callback_data=choice.data
            )
        return Inbound(chat, sender, text=text, message_id=info.ID)

    # --- sending --------------------------------------------------------------------------

    async def send(self, message: Outbound) -> str | None:
        """Send in chunks (choices numbered on the last); an edit replaces the earlier text."""
        chat = message.chat.chat_id
        if message.replaces_message_id is not None:
            from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

            text = split_text(numbered(message.text, message.choices), MESSAGE_LIMIT)[0]
            await self.client.edit_message(
                to_jid(chat), message.replaces_message_id, Message(conversation=text)
            )
            card = self._cards.get(message.chat.key)
            if card is not None and card.message_id == message.replaces_message_id:
                if message.choices:
                    self._cards[message.chat.key] = _Card(card.message_id, message.choices)
                else:
                    del self._cards[message.chat.key]
            return message.replaces_message_id
        sent_id: str | None = None
        for piece in split_text(numbered(message.text, message.choices), MESSAGE_LIMIT):
            response = await self.client.send_message(to_jid(chat), piece)
            sent_id = response.ID
        if message.choices and sent_id is not None:
            self._cards[message.chat.key] = _Card(sent_id, message.choices)
        return sent_id

    async def create_group(self, name: str, participants: list[str]) -> ChatRef:
        """A new group with these members (phone JIDs) for a builder's binding."""
        info = await self.client.create_group(name, participants=[to_jid(p) for p in participants])
        chat = ChatRef("whatsapp", jid_text(info.JID), is_direct=False)
        log.info("whatsapp: created group %r as %s", name, chat.chat_id)
        return chat

    # --- staying connected ----------------------------------------------------------------

    async def is_connected(self) -> bool:
        # neonize's async client exposes this as a property that returns a coroutine
        value = self.client.is_connected
        if inspect.isawaitable(value):
            value = await value
        return bool(value)

    async def _watch(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.watchdog_seconds)
                # whatsmeow reconnects by itself after a clean disconnect: give it one period
                await asyncio.sleep(self.watchdog_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._logged_out:
                continue
            if not await self.is_connected():
                await self._reconnect()

    async def _reconnect(self) -> None:
        attempt = 0
        while not self._logged_out:
            delay = self.backoff[min(attempt, len(self.backoff) - 1)]
            attempt += 1
            self._state = "reconnecting"
            log.warning("whatsapp: not connected, reconnect attempt %d", attempt)
            self._connected.clear()
            try:
                # stop ends the old Go connection loop; connect starts a fresh one from the db
                await self.client.stop()
                await self.client.connect()
            except Exception:
                log.warning("whatsapp: reconnect attempt %d failed", attempt, exc_info=True)
            try:
                await asyncio.wait_for(self._connected.wait(), delay)
            except TimeoutError:
                continue
            self.reconnects += 1
            return


def neonize_client(db: Path) -> Any:
    """A real neonize client whose session lives in `db` (a credential: keep it private)."""
    from neonize.aioze.client import NewAClient

    db.parent.mkdir(parents=True, exist_ok=True)
    return NewAClient(str(db))


def qr_text(data: bytes) -> str:
    """A QR code drawn with block characters for a terminal."""
    import segno

    buffer = io.StringIO()
    segno.make_qr(data).terminal(out=buffer, compact=True)
    return buffer.getvalue()


async def login(
    client: Any,
    *,
    phone: str | None = None,
    show: Callable[[str], None] = print,
    timeout: float = 300.0,
) -> str:
    """Link this machine as a WhatsApp device: show the QR (or a pair code) until paired.

    Returns the linked account's JID.
    """
    from neonize.aioze.events import ConnectedEv, PairStatusEv

    paired = asyncio.Event()
    account: list[str] = []

    async def on_qr(_: Any, data: bytes) -> None:
        show("Scan this with WhatsApp > Linked devices > Link a device:\n" + qr_text(data))

    async def on_pair(_: Any, event: Any) -> None:
        if event.ID.User:
            account.append(jid_text(event.ID))
        paired.set()

    async def on_connected(_: Any, event: Any) -> None:
        paired.set()

    if phone is None:
        client.event.qr(on_qr)
    client.event(PairStatusEv)(on_pair)
    client.event(ConnectedEv)(on_connected)
    await client.connect()
    if phone is not None:
        digits = "".join(ch for ch in phone if ch.isdigit())
        code = await client.PairPhone(digits, show_push_notification=True)
        show(f"On your phone: WhatsApp > Linked devices > Link with phone number, enter {code}")
    try:
        await asyncio.wait_for(paired.wait(), timeout)
    finally:
        try:
            await client.stop()
        except Exception:
            log.debug("whatsapp: stop after login failed", exc_info=True)
    if not account and getattr(client, "me", None) is not None:
        account.append(jid_text(client.me.JID))
    return account[0] if account else "unknown"

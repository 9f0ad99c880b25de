"""WhatsApp through neonize (whatsmeow): messages -> `Inbound`, `Outbound` -> numbered text.

WhatsApp has no buttons for a linked device, so a message with choices ends with its options
numbered, and a reply of just that number comes back as the choice's `callback_data`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from assistant.channels._base import ChannelError, ChannelHealth, InboundHandler
from assistant.channels._chunks import split_text
from assistant.channels.whatsapp_session import (
    SessionState,
    linked_note,
    note_linked,
    read_session,
)
from assistant.messages import ChatRef, Choice, Inbound, Outbound, Principal

log = logging.getLogger("foreman.channels.whatsapp")

# WhatsApp accepts far longer texts, but long ones are cut in notifications and hard to read
MESSAGE_LIMIT = 4000
USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"
_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
STOP_SECONDS = 10.0
# WhatsApp refuses longer group subjects (HTTP 406)
GROUP_NAME_LIMIT = 25
# a numbered reply: ASCII digits only ("²", "①" and "١" are digits to Python, not choices)
_CHOICE_DIGITS = 3


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


def is_choice_number(text: str) -> bool:
    return len(text) <= _CHOICE_DIGITS and text.isascii() and text.isdigit()


class GroupNameError(ValueError):
    """A group name WhatsApp refuses; names the group and the limit."""


def check_group_name(name: str) -> None:
    # WhatsApp counts UTF-16 code units (an emoji outside the BMP counts twice)
    length = len(name.encode("utf-16-le")) // 2
    if not name.strip() or length > GROUP_NAME_LIMIT:
        raise GroupNameError(
            f"WhatsApp group name {name!r} is {length} characters; "
            f"WhatsApp allows 1 to {GROUP_NAME_LIMIT}"
        )


@dataclass(frozen=True)
class _Card:
    message_id: str
    choices: tuple[Choice, ...]


class WhatsAppChannel:
    """One linked WhatsApp account; whatsmeow keeps it connected, the watchdog restarts it.

    whatsmeow reconnects by itself after a drop and finds silent deaths with its keepalive.
    The watchdog steps in when that does not bring the connection back within a period (or
    the connection call ended, as when the network is down at start): it restarts the client
    with backoff. A session that is not linked is never connected (that would start a QR
    flow nobody sees); a logout, another program taking over the session, or an outdated
    client stop the channel with a one-line `attention` message for the principal.
    """

    platform = "whatsapp"

    def __init__(
        self,
        client: Any,
        *,
        session: Path | None = None,
        watchdog_seconds: float = 30.0,
        backoff: tuple[float, ...] = _BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # `client` is a neonize NewAClient (see whatsapp_client.neonize_client)
        self.client = client
        self.session = session  # the session file, read before connecting
        self.watchdog_seconds = watchdog_seconds
        self.backoff = backoff
        self.clock = clock
        self.last_inbound: datetime | None = None
        self.reconnects = 0
        self.attention = ""  # what the principal must do, when the channel cannot go on
        self._state = "stopped"
        self._connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._halted = False  # logged out, replaced, outdated, not linked: no reconnecting
        self._ended = False  # the Go connection call returned: nothing will reconnect by itself
        self._banned_until: datetime | None = None
        self._connection: asyncio.Future[Any] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._on_inbound: InboundHandler | None = None
        # the latest message with choices in each chat: what a bare number answers
        self._cards: dict[str, _Card] = {}
        self._chat_locks: dict[str, asyncio.Lock] = {}

    async def start(self, on_inbound: InboundHandler) -> None:
        from assistant.channels.whatsapp_client import load_neonize

        self._on_inbound = on_inbound
        if self.session is not None:
            session = read_session(self.session)
            if session.state is not SessionState.LINKED:
                described = session.describe()
                unreadable = session.state is SessionState.UNREADABLE
                self._halt(
                    str(session.state), described if unreadable else f"WhatsApp is {described}"
                )
                return
            if not linked_note(self.session).exists() and session.account:
                note_linked(self.session, session.account)
        load_neonize()
        from neonize.aioze import events

        handlers: dict[Any, Callable[[Any, Any], Awaitable[None]]] = {
            events.MessageEv: self._on_message,
            events.ConnectedEv: self._on_connected,
            events.DisconnectedEv: self._on_disconnected,
            events.KeepAliveTimeoutEv: self._on_keepalive_timeout,
            events.KeepAliveRestoredEv: self._on_keepalive_restored,
            events.LoggedOutEv: self._on_logged_out,
            events.StreamReplacedEv: self._on_stream_replaced,
            events.ClientOutdatedEv: self._on_client_outdated,
            events.TemporaryBanEv: self._on_temporary_ban,
            events.ConnectFailureEv: self._on_connect_failure,
        }
        for event_type, handler in handlers.items():
            self.client.event(event_type)(logged(handler))
        self._state = "connecting"
        await self._connect()
        self._watchdog = asyncio.create_task(self._watch(), name="whatsapp-watchdog")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        if self._connection is not None:
            self._connection = None
            await self._stop_client()
        if not self._halted:
            self._state = "stopped"

    def health(self) -> ChannelHealth:
        if self._halted:
            detail = f"— {self.attention}"
        else:
            detail = f"{self.reconnects} reconnects" if self.reconnects else ""
        return ChannelHealth("whatsapp", self._state, detail, self.last_inbound, self.attention)

    # --- connection events ----------------------------------------------------------------

    async def _on_connected(self, client: Any, event: Any) -> None:
        self._state = "connected"
        self._ended = False
        self._banned_until = None
        self._connected.set()
        log.info("whatsapp: connected")

    async def _on_disconnected(self, client: Any, event: Any) -> None:
        if self._halted:
            return
        self._state = "disconnected"
        self._connected.clear()
        self._wake.set()
        log.warning("whatsapp: disconnected; waiting for the connection to come back")

    async def _on_keepalive_timeout(self, client: Any, event: Any) -> None:
        # one missed keepalive is common on a flaky network; whatsmeow reconnects on its own
        # when they keep failing, and KeepAliveRestored says when they answer again
        self._state = "not responding"
        level = logging.WARNING if event.ErrorCount == 3 else logging.DEBUG
        log.log(level, "whatsapp: %d keepalives unanswered", event.ErrorCount)

    async def _on_keepalive_restored(self, client: Any, event: Any) -> None:
        if self._state == "not responding":
            self._state = "connected"
        log.info("whatsapp: keepalive answered again")

    async def _on_logged_out(self, client: Any, event: Any) -> None:
        from neonize.proto.Neonize_pb2 import ConnectFailureReason

        reason = ConnectFailureReason.Name(event.Reason).lower().replace("_", " ")
        self._halt(
            "logged out",
            f"WhatsApp logged Foreman out ({reason}): run `foreman whatsapp login` "
            "and restart foreman serve",
        )

    async def _on_stream_replaced(self, client: Any, event: Any) -> None:
        # reconnecting would kick the other program off, which kicks Foreman off, for ever
        self._halt(
            "replaced",
            "another program connected with this WhatsApp session; Foreman let it have it "
            "(stop the other one, then restart foreman serve)",
        )

    async def _on_client_outdated(self, client: Any, event: Any) -> None:
        self._halt(
            "client outdated",
            "WhatsApp refuses this client version: upgrade neonize (pip install -U neonize) "
            "and restart foreman serve",
        )

    async def _on_temporary_ban(self, client: Any, event: Any) -> None:
        from neonize.proto.Neonize_pb2 import TemporaryBan

        reason = TemporaryBan.TempBanReason.Name(event.Code).lower().replace("_", " ")
        until = self.clock() + timedelta(seconds=max(event.Expire, 60))
        self._banned_until = until
        self._state = "temporarily banned"
        self._connected.clear()
        self.attention = (
            f"WhatsApp has temporarily banned this account ({reason}) until "
            f"{until:%Y-%m-%d %H:%M} UTC; Foreman reconnects after that"
        )
        log.error("whatsapp: %s", self.attention)

    async def _on_connect_failure(self, client: Any, event: Any) -> None:
        from neonize.proto.Neonize_pb2 import ConnectFailureReason as Reason

        if event.Reason in (Reason.LOGGED_OUT, Reason.MAIN_DEVICE_GONE, Reason.UNKNOWN_LOGOUT):
            await self._on_logged_out(client, event)
        elif event.Reason == Reason.CLIENT_OUTDATED:
            await self._on_client_outdated(client, event)
        elif event.Reason != Reason.TEMP_BANNED:  # TemporaryBan follows with its expiry
            self._state = "disconnected"
            self._connected.clear()
            self._wake.set()
            log.warning(
                "whatsapp: WhatsApp refused the connection (%s); retrying",
                event.Message or Reason.Name(event.Reason),
            )

    def _halt(self, state: str, attention: str) -> None:
        self._halted = True
        self._state = state
        self.attention = attention
        self._connected.clear()
        self._wake.set()
        log.error("whatsapp: %s", attention)

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
        if card is not None and is_choice_number(text) and 1 <= int(text) <= len(card.choices):
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

    async def create_group(
        self, name: str, participants: list[str], *, wait_seconds: float = 30.0
    ) -> ChatRef:
        """A new group with these members (phone JIDs) for a builder's binding.

        Raises `GroupNameError` for a name WhatsApp would refuse (retrying cannot help) and
        `ChannelError` when the client is not connected within `wait_seconds`.
        """
        check_group_name(name)
        try:
            await asyncio.wait_for(self._connected.wait(), wait_seconds)
        except TimeoutError:
            raise ChannelError(f"WhatsApp is {self._state}: group {name!r} not created") from None
        info = await self.client.create_group(name, participants=[to_jid(p) for p in participants])
        chat = ChatRef("whatsapp", jid_text(info.JID), is_direct=False)
        log.info("whatsapp: created group %r as %s", name, chat.chat_id)
        return chat

    # --- staying connected ----------------------------------------------------------------

    async def _connect(self) -> None:
        try:
            # schedules the Go connection call; its errors end that task, they never raise here
            connection = await self.client.connect()
        except Exception:
            log.warning("whatsapp: connecting failed", exc_info=True)
            self._ended = True
            self._wake.set()
            return
        self._connection = connection
        if isinstance(connection, asyncio.Future):
            connection.add_done_callback(self._connection_ended)

    def _connection_ended(self, connection: asyncio.Future[Any]) -> None:
        if connection is not self._connection or connection.cancelled():
            return
        error = connection.exception()
        self._ended = True
        if self._halted:
            return
        self._state = "disconnected"
        self._connected.clear()
        self._wake.set()
        log.warning("whatsapp: the connection ended (%s); retrying", error or "closed")

    async def _stop_client(self) -> None:
        try:
            await asyncio.wait_for(self.client.stop(), STOP_SECONDS)
        except Exception:  # the Go side may already be gone; stopping must still succeed
            log.debug("whatsapp: stop failed", exc_info=True)

    async def is_connected(self) -> bool:
        # neonize's async client exposes this as a property that returns a coroutine
        value = self.client.is_connected
        if inspect.isawaitable(value):
            value = await value
        return bool(value)

    async def _watch(self) -> None:
        while not self._halted:
            try:
                await asyncio.wait_for(self._wake.wait(), self.watchdog_seconds)
                if not self._ended:
                    # whatsmeow reconnects by itself after a drop: give it one period
                    await asyncio.sleep(self.watchdog_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._halted:
                break
            if self._banned_until is not None:
                if self.clock() < self._banned_until:
                    continue
                self._banned_until = None
                self.attention = ""
                await self._reconnect()
            elif self._ended or not await self.is_connected():
                await self._reconnect()
        if self._connection is not None:
            self._connection = None
            await self._stop_client()

    async def _reconnect(self) -> None:
        from assistant.channels.whatsapp_client import go_calls

        attempt = 0
        while not self._halted:
            delay = self.backoff[min(attempt, len(self.backoff) - 1)]
            attempt += 1
            self._state = "reconnecting"
            log.warning("whatsapp: not connected, reconnect attempt %d", attempt)
            self._connected.clear()
            # stop ends the old Go connection call; connect starts a fresh one from the session
            self._connection = None
            await self._stop_client()
            bridge = go_calls(self.client)
            if bridge is not None and not await bridge.connection_closed(delay):
                # never a second connection call while one is still running in Go
                log.warning("whatsapp: the previous connection is still closing; waiting")
                continue
            self._ended = False
            await self._connect()
            try:
                await asyncio.wait_for(self._connected.wait(), delay)
            except TimeoutError:
                continue
            self.reconnects += 1
            return


def logged(
    handler: Callable[[Any, Any], Awaitable[None]],
) -> Callable[[Any, Any], Awaitable[None]]:
    """The handler with its exceptions logged: neonize never reads a handler's result."""

    async def run(client: Any, event: Any) -> None:
        try:
            await handler(client, event)
        except Exception:
            log.exception("whatsapp: handling %s failed", type(event).__name__)

    return run

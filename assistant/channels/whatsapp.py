"""WhatsApp through neonize (whatsmeow): messages -> `Inbound`, `Outbound` -> numbered text.

WhatsApp has no buttons for a linked device, so a message with choices ends with its options
numbered, and a reply of just that number comes back as the choice's `callback_data`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.channels._base import ChannelError, ChannelHealth, InboundHandler
from assistant.channels._chunks import split_text
from assistant.channels.whatsapp_connection import BACKOFF, Connection
from assistant.channels.whatsapp_media import attachment_of, caption_of
from assistant.messages import (
    ChatRef,
    Choice,
    Inbound,
    Outbound,
    OutboundFile,
    Principal,
    neutral_outbound,
)

log = logging.getLogger("foreman.channels.whatsapp")

# WhatsApp accepts far longer texts, but long ones are cut in notifications and hard to read
MESSAGE_LIMIT = 4000
CAPTION_LIMIT = 1024  # a document's caption; a longer text goes as its own message first
COMPOSING_EVERY = 10.0  # WhatsApp drops a "typing…" left alone after some seconds
USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"
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


def _as_caption(message: Outbound) -> bool:
    """A lone file under a short text without choices goes as one document, captioned."""
    return (
        len(message.files) == 1
        and bool(message.files[0].data)
        and not message.choices
        and len(message.text) <= CAPTION_LIMIT
    )


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
    """One linked WhatsApp account: messages in and out, its connection kept by `Connection`."""

    platform = "whatsapp"
    # an edit shows as "edited" and is rate-limited hard: no ticking status here
    live_edits = False

    def __init__(
        self,
        client: Any,
        *,
        session: Path | None = None,
        watchdog_seconds: float = 30.0,
        backoff: tuple[float, ...] = BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # `client` is a neonize NewAClient (see whatsapp_client.neonize_client)
        self.client = client
        self.clock = clock
        self.connection = Connection(
            client,
            session=session,
            watchdog_seconds=watchdog_seconds,
            backoff=backoff,
            clock=clock,
        )
        self.last_inbound: datetime | None = None
        self._on_inbound: InboundHandler | None = None
        # the latest message with choices in each chat: what a bare number answers
        self._cards: dict[str, _Card] = {}
        self._chat_locks: dict[str, asyncio.Lock] = {}

    @property
    def reconnects(self) -> int:
        return self.connection.reconnects

    async def start(self, on_inbound: InboundHandler) -> None:
        from neonize.aioze.events import MessageEv

        self._on_inbound = on_inbound
        await self.connection.start({MessageEv: self._on_message})

    async def stop(self) -> None:
        await self.connection.stop()

    def health(self) -> ChannelHealth:
        connection = self.connection
        if connection.halted:
            detail = f"— {connection.attention}"
        else:
            detail = f"{connection.reconnects} reconnects" if connection.reconnects else ""
        return ChannelHealth(
            "whatsapp", connection.state, detail, self.last_inbound, connection.attention
        )

    async def _on_message(self, client: Any, event: Any) -> None:
        message = self.inbound_from_event(event)
        if message is None or self._on_inbound is None:
            return
        self.last_inbound = self.clock()
        # neonize runs each event handler as its own task: keep one chat's replies in order
        async with self._chat_locks.setdefault(message.chat.key, asyncio.Lock()):
            try:
                async with self._composing(message.chat):
                    replies = await self._on_inbound(message)
                for reply in replies:
                    await self.send(reply)
            except Exception:
                log.exception("whatsapp: answering %s failed", message.sender.key)

    @contextlib.asynccontextmanager
    async def _composing(self, chat: ChatRef) -> AsyncIterator[None]:
        """ "typing…" in the chat while the answer is worked out (refreshed; paused after)."""
        from neonize.utils.enum import ChatPresence, ChatPresenceMedia

        async def show(state: Any) -> None:
            try:
                await self.client.send_chat_presence(
                    to_jid(chat.chat_id), state, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT
                )
            except Exception as exc:  # cosmetic: never in the way of the answer
                log.debug("whatsapp: presence in %s: %s", chat.key, exc)

        async def refresh() -> None:
            while True:
                await asyncio.sleep(COMPOSING_EVERY)
                await show(ChatPresence.CHAT_PRESENCE_COMPOSING)

        await show(ChatPresence.CHAT_PRESENCE_COMPOSING)
        task = asyncio.create_task(refresh())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await show(ChatPresence.CHAT_PRESENCE_PAUSED)

    def inbound_from_event(self, event: Any) -> Inbound | None:
        """The message as an `Inbound`, or None for own messages, edits, status and media
        nobody reads (videos, stickers). Voice notes, audio, photos and documents come with an
        `Attachment` the client downloads when asked; `text` is then the caption."""
        info = event.Info
        source = info.MessageSource
        if source.IsFromMe or event.IsEdit or info.Edit:
            return None
        if source.Chat.Server not in (USER_SERVER, GROUP_SERVER, LID_SERVER):
            return None  # status@broadcast, newsletters
        attachment = attachment_of(event.Message, info.ID, self.client.download_any)
        text = (message_text(event.Message) or caption_of(event.Message)).strip()
        if not text and attachment is None:
            return None
        is_group = source.IsGroup or source.Chat.Server == GROUP_SERVER
        chat = ChatRef("whatsapp", jid_text(source.Chat), is_direct=not is_group)
        sender = Principal("whatsapp", sender_id(source), info.Pushname or None)
        if attachment is not None:
            return Inbound(chat, sender, text=text, message_id=info.ID, attachment=attachment)
        card = self._cards.get(chat.key)
        if card is not None and is_choice_number(text) and 1 <= int(text) <= len(card.choices):
            choice = card.choices[int(text) - 1]
            return Inbound(
                chat, sender, text=text, message_id=card.message_id, callback_data=choice.data
            )
        return Inbound(chat, sender, text=text, message_id=info.ID)

    # --- sending --------------------------------------------------------------------------

    async def send(self, message: Outbound) -> str | None:
        """Send in chunks (choices numbered on the last), then each file as a document; an edit
        replaces the earlier text."""
        # titles, names and builder output are data: no escapes, controls or bidi reach the chat
        message = neutral_outbound(message)
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
        if message.files and _as_caption(message):
            return await self._send_document(chat, message.files[0], message.text)
        sent_id: str | None = None
        for piece in split_text(numbered(message.text, message.choices), MESSAGE_LIMIT):
            if not piece.strip():
                continue
            response = await self.client.send_message(to_jid(chat), piece)
            sent_id = response.ID
        if message.choices and sent_id is not None:
            self._cards[message.chat.key] = _Card(sent_id, message.choices)
        for file in message.files:
            sent_id = await self._send_document(chat, file, "") or sent_id
        return sent_id

    async def _send_document(self, chat: str, file: OutboundFile, caption: str) -> str | None:
        """A document message: neonize uploads the bytes (encrypted), then sends the message."""
        if not file.data:
            note = f"📎 {file.filename} is empty; nothing to send."
            return (await self.client.send_message(to_jid(chat), note)).ID
        response = await self.client.send_document(
            to_jid(chat),
            file.data,
            caption=caption or None,
            filename=file.filename,
            mimetype=file.mime,
        )
        return response.ID

    async def create_group(
        self, name: str, participants: list[str], *, wait_seconds: float = 30.0
    ) -> ChatRef:
        """A new group with these members (phone JIDs) for a builder's binding.

        Raises `GroupNameError` for a name WhatsApp would refuse (retrying cannot help) and
        `ChannelError` when the client is not connected within `wait_seconds`.
        """
        check_group_name(name)
        try:
            await asyncio.wait_for(self.connection.connected.wait(), wait_seconds)
        except TimeoutError:
            state = self.connection.state
            raise ChannelError(f"WhatsApp is {state}: group {name!r} not created") from None
        info = await self.client.create_group(name, participants=[to_jid(p) for p in participants])
        chat = ChatRef("whatsapp", jid_text(info.JID), is_direct=False)
        log.info("whatsapp: created group %r as %s", name, chat.chat_id)
        return chat

"""A stand-in for neonize's `NewAClient`: the same methods and event objects, no WhatsApp servers.

A live WhatsApp account cannot be reached from tests (it needs a phone that scans a QR code),
so this is the one boundary faked. Everything on our side of it is real: the neonize library
is imported, its event registry (`neonize.aioze.events.Event`) is used, and every event and
answer is a neonize protobuf, sent through a serialise/parse round trip like the Go side does.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

from neonize.aioze.events import (
    EVENT_TO_INT,
    ConnectedEv,
    DisconnectedEv,
    Event,
    MessageEv,
    PairStatusEv,
)
from neonize.proto.Neonize_pb2 import (
    JID,
    GroupInfo,
    GroupName,
    MessageInfo,
    MessageSource,
    SendResponse,
)
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message


def jid(text: str, device: int = 0) -> JID:
    user, _, server = text.partition("@")
    return JID(User=user, Server=server or "s.whatsapp.net", Device=device, IsEmpty=False)


def complete(message: Any) -> Any:
    """Fill every unset required field with its zero value, as the Go side always sends them."""
    for field in message.DESCRIPTOR.fields:
        if field.message_type is not None and not field.is_repeated:
            if field.is_required or message.HasField(field.name):
                sub = getattr(message, field.name)
                sub.SetInParent()
                complete(sub)
        elif field.is_required and not message.HasField(field.name):
            setattr(message, field.name, field.default_value)
    return message


@dataclass
class Sent:
    to: str
    text: str
    id: str


class FakeNeonizeClient:
    def __init__(self, *, logged_in: bool = True) -> None:
        # an unpaired session connects only after the phone scanned the QR code
        self.logged_in = logged_in
        self.event = Event(self)  # neonize's own registry: handlers keyed by event type
        self.me: Any = None
        self.online = False
        self.sent: list[Sent] = []
        self.edits: list[tuple[str, str, str]] = []
        self.groups: list[tuple[str, list[str]]] = []
        self.connects = 0
        self.stops = 0
        self.failing_connects = 0  # the next N connects raise, as when the network is down
        self._ids = itertools.count(1)

    # --- the NewAClient surface the channel uses ---------------------------------------

    async def connect(self) -> asyncio.Task[None]:
        self.connects += 1
        if self.failing_connects:
            self.failing_connects -= 1
            raise ConnectionError("dial tcp: network is unreachable")

        async def come_online() -> None:
            await asyncio.sleep(0.01)
            if self.logged_in:
                self.online = True
                await self.emit(ConnectedEv(status=True))

        return asyncio.create_task(come_online())

    @property
    def is_connected(self) -> Any:
        # like NewAClient: a property whose value must be awaited
        async def answer() -> bool:
            return self.online

        return answer()

    async def stop(self) -> None:
        self.stops += 1
        self.online = False

    async def disconnect(self) -> None:
        self.online = False

    async def send_message(self, to: JID, message: Any) -> SendResponse:
        text = message if isinstance(message, str) else message.conversation
        response = complete(SendResponse(ID=f"3EB0{next(self._ids):04d}", Timestamp=1))
        self.sent.append(Sent(f"{to.User}@{to.Server}", text, response.ID))
        return response

    async def edit_message(self, chat: JID, message_id: str, new_message: Message) -> SendResponse:
        self.edits.append((f"{chat.User}@{chat.Server}", message_id, new_message.conversation))
        return complete(SendResponse(ID=message_id))

    async def create_group(self, name: str, participants: list[JID] = []) -> GroupInfo:  # noqa: B006 (neonize's signature)
        self.groups.append((name, [f"{p.User}@{p.Server}" for p in participants]))
        return complete(
            GroupInfo(JID=jid("120363000000000001@g.us"), GroupName=GroupName(Name=name))
        )

    async def PairPhone(self, phone: str, show_push_notification: bool, **_: Any) -> str:
        self.paired_phone = phone
        return "ABCD-EFGH"

    # --- what the test makes WhatsApp do ------------------------------------------------------

    async def emit(self, event: Any) -> None:
        handler = self.event.list_func.get(EVENT_TO_INT[type(event)])
        if handler is not None:
            # the Go side hands over serialised bytes; parse them the same way
            wire = complete(event).SerializeToString()  # raises if a required field is unset
            await handler(self, type(event).FromString(wire))

    async def show_qr(self, data: bytes) -> None:
        await self.event._qr(self, data)

    async def receive(
        self,
        chat: str,
        sender: str,
        text: str,
        *,
        from_me: bool = False,
        pushname: str = "Ada",
        sender_alt: str | None = None,
        is_edit: bool = False,
    ) -> None:
        source = MessageSource(
            Chat=jid(chat),
            Sender=jid(sender, device=3),
            IsFromMe=from_me,
            IsGroup=chat.endswith("@g.us"),
        )
        if sender_alt:
            source.SenderAlt.CopyFrom(jid(sender_alt))
        info = MessageInfo(MessageSource=source, ID=f"IN{next(self._ids)}", Pushname=pushname)
        await self.emit(MessageEv(Info=info, Message=Message(conversation=text), IsEdit=is_edit))

    async def drop_silently(self) -> None:
        """The connection dies without a Disconnected event (a NAT timeout, a suspended laptop)."""
        self.online = False

    async def drop_loudly(self) -> None:
        self.online = False
        await self.emit(DisconnectedEv(status=True))

    async def finish_pairing(self, account: str) -> None:
        self.logged_in = self.online = True
        await self.emit(PairStatusEv(ID=jid(account)))
        await self.emit(ConnectedEv(status=True))

"""neonize's real Python layer on a stand-in for its Go library (goneonize + whatsmeow).

A live WhatsApp account cannot be reached from tests (it needs a phone that scans a QR code),
so the Go library is the one boundary faked. Everything above it is real: `NewAClient`, its
event registry and dispatch (`Event.execute`, run_coroutine_threadsafe onto the loop), the
protobufs on the wire, and Foreman's `GoCalls` threads. `FakeWhatsmeow` answers the Go calls
neonize makes the way goneonize 0.5.2 and whatsmeow do:

- `Neonize` (what `connect()` schedules) creates the Go client only when it runs, so a call
  made right after `connect()` finds no client; it returns an error when the network is down
  (ending the connect task, never raising from `connect()`);
- a session without a device gets QR codes; the QR loop runs on a context `Stop` cannot
  cancel, and when nobody scans, the call never returns;
- `Upload` encrypts and stores media, answering its path and hashes; a document message is
  read back against its upload (the bytes a recipient would download);
- `PairPhone`, sends and group creation fail without a connected client; a pair code is
  given only after the first QR code;
- pairing ends in a `PairStatus` event carrying the account or an error; the device is
  written to the session's `whatsmeow_device` table, and a logout deletes it;
- `DownloadAny` downloads the first image, video, audio, document or sticker of a message from
  the media server by its `directPath` and checks the plaintext's SHA-256, failing with
  whatsmeow's errors (nothing downloadable, HTTP 404 for expired media, a hash mismatch);
- keepalive timeouts and restores, logouts, stream replacement, an outdated client, bans
  and connect failures are events with whatsmeow's fields.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import itertools
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.channels.whatsapp_client import load_neonize, neonize_client

load_neonize()

from neonize.events import EVENT_TO_INT  # noqa: E402
from neonize.proto import Neonize_pb2 as wa  # noqa: E402
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message  # noqa: E402

NIL_CLIENT = "client is nil"
PAIR_PHONE_NIL = (
    "client is nil: ensure client is connected before calling PairPhone, "
    "or pass pairphone to connect()"
)
NOT_CONNECTED = "websocket not connected"


def jid(text: str, device: int = 0) -> wa.JID:
    user, _, server = text.partition("@")
    return complete(wa.JID(User=user, Server=server or "s.whatsapp.net", Device=device))


def jid_text(value: wa.JID) -> str:
    return f"{value.User}@{value.Server}"


def complete(message: Any) -> Any:
    """Fill every unset required field with its zero value, as the Go side always sends them."""
    for item in message.DESCRIPTOR.fields:
        if item.message_type is not None and not item.is_repeated:
            if item.is_required or message.HasField(item.name):
                sub = getattr(message, item.name)
                sub.SetInParent()
                complete(sub)
        elif item.is_required and not message.HasField(item.name):
            setattr(message, item.name, item.default_value)
    return message


@dataclass
class Sent:
    to: str
    text: str
    id: str


@dataclass
class SentDocument:
    to: str
    filename: str
    mime: str
    caption: str
    data: bytes = field(repr=False)
    id: str = ""
    media_type: int = 0


@dataclass
class GoClient:
    """One whatsmeow client, as goneonize keeps it in its `clients` map."""

    db: Path
    event_cb: Any
    qr_cb: Any
    subscribed: set[int]
    cancel: threading.Event = field(default_factory=threading.Event)  # Stop's context
    paired: threading.Event = field(default_factory=threading.Event)
    online: bool = False
    qr_shown: bool = False


class FakeWhatsmeow:
    """The Go library neonize loads, with whatsmeow's behaviour and no WhatsApp servers."""

    def __init__(
        self,
        *,
        qr_codes: int = 6,
        qr_seconds: float = 20.0,
        scans_as: str | None = None,
        enters_code_as: str | None = None,
        refuses_with: str | None = None,
    ) -> None:
        # what the person with the phone does: scan the first QR code, enter the pair code,
        # or get WhatsApp's refusal (e.g. too many linked devices)
        self.scans_as = scans_as
        self.enters_code_as = enters_code_as
        self.refuses_with = refuses_with
        self.network = True
        self.failing_connects = 0  # the next N connection calls fail, as with no network
        self.stop_hangs = False  # the connection call ignores Stop (stuck inside Go)
        self.qr_codes = qr_codes
        self.qr_seconds = qr_seconds
        self.clients: dict[bytes, GoClient] = {}
        self.every_client: list[GoClient] = []  # stopped ones too: their calls may still run
        self.connects = 0
        self.stops = 0
        self.sent: list[Sent] = []
        self.documents: list[SentDocument] = []
        self.uploads: dict[str, tuple[bytes, int]] = {}  # direct path -> (bytes, media type)
        self.edits: list[tuple[str, str, str]] = []
        self.groups: list[tuple[str, list[str]]] = []
        self.presences: list[tuple[str, int]] = []  # (chat, ChatPresence value) as sent
        self.pair_phones: list[str] = []
        self.qr_codes_shown = 0
        self.pair_code = "ABCD-EFGH"
        self.downloads: list[str] = []  # direct paths downloaded (`DownloadAny`), in order
        self._ids = itertools.count(1)
        self._never = threading.Event()  # what a QR loop nobody answered waits for
        self._lock = threading.Lock()

    # --- the session store (whatsmeow's sqlstore, reduced to the device table) -----------

    @staticmethod
    def device(db: Path) -> str | None:
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device (jid TEXT PRIMARY KEY)")
            row = connection.execute("SELECT jid FROM whatsmeow_device").fetchone()
        connection.close()
        return row[0] if row else None

    @staticmethod
    def store_device(db: Path, device_jid: str | None) -> None:
        with sqlite3.connect(db) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS whatsmeow_device (jid TEXT PRIMARY KEY)")
            connection.execute("DELETE FROM whatsmeow_device")
            if device_jid is not None:
                connection.execute("INSERT INTO whatsmeow_device VALUES (?)", (device_jid,))
        connection.close()

    # --- goneonize's exported functions neonize calls -------------------------------------

    def Neonize(  # noqa: N802 (goneonize's name)
        self,
        name: bytes,
        uuid: bytes,
        jid_bytes: bytes,
        jid_size: int,
        new_device: int,
        log_level: bytes,
        qr_cb: Any,
        login_cb: Any,
        event_cb: Any,
        log_cb: Any,
        subscribers: Any,
        subscriber_count: int,
        device_props: bytes,
        device_props_size: int,
        pair_phone: bytes,
        pair_phone_size: int,
        proxy: Any,
    ) -> bytes:
        self.connects += 1
        db = Path(name.decode())
        account = self.device(db)
        client = GoClient(db, event_cb, qr_cb, set(bytes(subscribers)))
        self.clients[uuid] = client
        self.every_client.append(client)
        if not self.network or self.failing_connects:
            self.failing_connects = max(0, self.failing_connects - 1)
            return b"failed to connect: dial tcp: lookup web.whatsapp.com: no such host"
        client.online = True
        if account is None:
            # the QR loop: on context.Background(), so Stop does not end it
            for n in range(self.qr_codes):
                code = f"2@ref{n},noisekey,identitykey,advsecret".encode()
                buffer = ctypes.create_string_buffer(code)
                client.qr_shown = True
                self.qr_codes_shown += 1
                client.qr_cb(uuid, ctypes.addressof(buffer))
                if n == 0 and self.scans_as:
                    self.pair(uuid, self.scans_as)
                elif n == 0 and self.refuses_with and not self.enters_code_as:
                    self.refuse(uuid, self.refuses_with)
                if client.paired.wait(self.qr_seconds):
                    break
            else:
                client.online = False
                self._never.wait()  # waits for a device id that never comes
                return b""
        else:
            self.emit(uuid, wa.Connected(status=True))
        client.cancel.wait()
        if self.stop_hangs:
            self._never.wait()
        return b""

    def Stop(self, uuid: bytes) -> None:  # noqa: N802
        self.stops += 1
        client = self.clients.pop(uuid, None)
        if client is not None:
            client.online = False
            client.cancel.set()

    def IsConnected(self, uuid: bytes) -> bool:  # noqa: N802
        client = self.clients.get(uuid)
        return client is not None and client.online

    def GenerateMessageID(self, uuid: bytes) -> bytes:  # noqa: N802
        return f"3EB0{next(self._ids):08d}".encode()

    def PairPhone(self, uuid: bytes, payload: bytes, size: int) -> bytes:  # noqa: N802
        client = self.clients.get(uuid)
        answer = wa.PairPhoneReturnFunction()
        if client is None:
            answer.Error = PAIR_PHONE_NIL
        elif not client.online or not client.qr_shown:
            answer.Error = NOT_CONNECTED
        else:
            self.pair_phones.append(wa.PairPhoneParams.FromString(payload).phone)
            answer.Code = self.pair_code
            if self.enters_code_as:
                # the person types the code a moment after it is shown
                account = self.enters_code_as
                threading.Timer(0.05, self.pair, (uuid, account)).start()
        return answer.SerializeToString()

    def SendMessage(self, uuid: bytes, to: bytes, to_size: int, message: bytes, size: int) -> bytes:  # noqa: N802
        client = self.clients.get(uuid)
        answer = wa.SendMessageReturnFunction()
        if client is None:
            answer.Error = NIL_CLIENT
        elif not client.online:
            answer.Error = NOT_CONNECTED
        else:
            chat = jid_text(wa.JID.FromString(to))
            body = Message.FromString(message)
            response = complete(wa.SendResponse(ID=f"3EB0{next(self._ids):04d}", Timestamp=1))
            if body.HasField("editedMessage"):
                edit = body.editedMessage.message.protocolMessage
                self.edits.append((chat, edit.key.ID, edit.editedMessage.conversation))
            elif body.HasField("documentMessage"):
                self.documents.append(self._document(chat, body.documentMessage, response.ID))
            else:
                text = body.conversation or body.extendedTextMessage.text
                self.sent.append(Sent(chat, text, response.ID))
            answer.SendResponse.CopyFrom(response)
        return answer.SerializeToString()

    def Upload(self, uuid: bytes, data: bytes, size: int, media_type: int) -> bytes:  # noqa: N802
        """whatsmeow encrypts the media, uploads it and answers where it is and its hashes."""
        client = self.clients.get(uuid)
        answer = wa.UploadReturnFunction()
        if client is None:
            answer.Error = NIL_CLIENT
        elif not client.online:
            answer.Error = NOT_CONNECTED
        else:
            number = next(self._ids)
            path = f"/v/t62.7119-24/{number}.enc"
            blob = bytes(data[:size])
            self.uploads[path] = (blob, media_type)
            answer.UploadResponse.CopyFrom(
                wa.UploadResponse(
                    url=f"https://mmg.whatsapp.net{path}",
                    DirectPath=path,
                    Handle="",
                    MediaKey=b"k" * 32,
                    FileEncSHA256=hashlib.sha256(b"enc" + blob).digest(),
                    FileSHA256=hashlib.sha256(blob).digest(),
                    FileLength=len(blob),
                )
            )
        return answer.SerializeToString()

    def _document(self, chat: str, document: Any, message_id: str) -> SentDocument:
        """A sent document message, with the bytes its upload held (a bad reference fails)."""
        blob, media_type = self.uploads[document.directPath]
        if hashlib.sha256(blob).digest() != document.fileSHA256 or len(blob) != document.fileLength:
            raise AssertionError("the document message does not match its upload")
        return SentDocument(
            chat,
            document.fileName,
            document.mimetype,
            document.caption,
            blob,
            message_id,
            media_type,
        )

    def SendChatPresence(  # noqa: N802
        self, uuid: bytes, to: bytes, to_size: int, state: int, media: int
    ) -> bytes:
        client = self.clients.get(uuid)
        if client is None:
            return NIL_CLIENT.encode()
        if not client.online:
            return NOT_CONNECTED.encode()
        with self._lock:
            self.presences.append((jid_text(wa.JID.FromString(to)), state))
        return b""

    def CreateGroup(self, uuid: bytes, request: bytes, size: int) -> bytes:  # noqa: N802
        client = self.clients.get(uuid)
        answer = wa.GetGroupInfoReturnFunction()
        wanted = wa.ReqCreateGroup.FromString(request)
        if client is None or self.device(client.db) is None:
            first = jid_text(wanted.Participants[0]) if wanted.Participants else ""
            answer.Error = (
                f"failed to get privacy token for participant {first}: "
                "the store doesn't contain a device JID"
            )
        elif not client.online:
            answer.Error = NOT_CONNECTED
        elif len(wanted.name.encode("utf-16-le")) // 2 > 25:
            answer.Error = "info query returned status 406: not-acceptable"
        else:
            self.groups.append((wanted.name, [jid_text(p) for p in wanted.Participants]))
            info = wa.GroupInfo(JID=jid("120363000000000001@g.us"))
            info.GroupName.Name = wanted.name
            answer.GroupInfo.CopyFrom(complete(info))
        return answer.SerializeToString()

    def DownloadAny(self, uuid: bytes, message: bytes, size: int) -> bytes:  # noqa: N802
        answer = wa.DownloadReturnFunction()
        client = self.clients.get(uuid)
        body = Message.FromString(message)
        # whatsmeow looks at these fields only, in this order (a wrapper holds nothing for it)
        kinds = ("imageMessage", "videoMessage", "audioMessage", "documentMessage")
        kind = next((k for k in (*kinds, "stickerMessage") if body.HasField(k)), None)
        if client is None:
            answer.Error = NIL_CLIENT
        elif kind is None:
            answer.Error = "didn't find any attachments in message"
        elif not client.online:
            answer.Error = f"failed to refresh media connections: {NOT_CONNECTED}"
        else:
            media = getattr(body, kind)
            data, _ = self.uploads.get(media.directPath, (None, None))
            if data is None:  # expired or never uploaded: the media server answers 404
                answer.Error = "download failed with status code 404"
            elif hashlib.sha256(data).digest() != media.fileSHA256:
                answer.Error = "hash of media plaintext doesn't match"
            else:
                with self._lock:
                    self.downloads.append(media.directPath)
                answer.Binary = data
        return answer.SerializeToString()

    # --- what WhatsApp does ---------------------------------------------------------------

    def emit(self, uuid: bytes, event: Any) -> None:
        """Hand an event to neonize as goneonize does: serialised, by its number."""
        client = self.clients.get(uuid)
        code = EVENT_TO_INT[type(event)]
        if client is None or code not in client.subscribed:
            return
        wire = complete(event).SerializeToString()  # raises if a required field is unset
        buffer = ctypes.create_string_buffer(wire, len(wire))
        client.event_cb(uuid, ctypes.addressof(buffer), len(wire), code)

    def pair(self, uuid: bytes, account: str) -> None:
        """The phone scanned the QR code (or entered the pair code): the device is linked."""
        client = self.clients[uuid]
        self.store_device(client.db, account.replace("@", ":7@", 1))
        self.emit(uuid, wa.PairStatus(ID=jid(account), Status=wa.PairStatus.SUCCESS))
        self.emit(uuid, wa.Connected(status=True))
        client.paired.set()

    def refuse(self, uuid: bytes, reason: str) -> None:
        """Pairing failed on WhatsApp's side: a PairStatus carrying the error, no device."""
        self.emit(uuid, wa.PairStatus(ID=jid(""), Status=wa.PairStatus.ERROR, Error=reason))

    def close(self) -> None:
        """Let every stuck Go call return, so a test leaves no thread behind."""
        self._never.set()
        for client in self.every_client:
            client.paired.set()
            client.cancel.set()


class WhatsAppSim:
    """A real neonize client on `FakeWhatsmeow`, with what a test makes WhatsApp do."""

    def __init__(self, db: Path, *, linked: str | None = None, **go: Any) -> None:
        self.db = db
        self.go = FakeWhatsmeow(**go)
        db.parent.mkdir(parents=True, exist_ok=True)
        if linked is not None:
            FakeWhatsmeow.store_device(db, linked.replace("@", ":7@", 1))
        self.client = neonize_client(db, library=self.go)
        self.uuid = self.client.uuid

    @property
    def sent(self) -> list[Sent]:
        return self.go.sent

    @property
    def edits(self) -> list[tuple[str, str, str]]:
        return self.go.edits

    @property
    def presences(self) -> list[tuple[str, int]]:
        return self.go.presences

    @property
    def groups(self) -> list[tuple[str, list[str]]]:
        return self.go.groups

    @property
    def online(self) -> bool:
        return self.go.IsConnected(self.uuid)

    async def deliver(self, event: Any) -> None:
        """Emit an event and wait until the handler neonize dispatched it to has finished."""
        code = EVENT_TO_INT[type(event)]
        handler = self.client.event.list_func.get(code)
        go_client = self.go.clients.get(self.uuid)
        if handler is None or go_client is None or code not in go_client.subscribed:
            raise AssertionError(f"nobody can receive {type(event).__name__}: not connected")
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def traced(client: Any, message: Any) -> None:
            try:
                await handler(client, message)
            finally:
                if not finished.done():
                    finished.set_result(None)

        self.client.event.list_func[code] = traced
        try:
            self.go.emit(self.uuid, event)
            await asyncio.wait_for(finished, 10)
        finally:
            self.client.event.list_func[code] = handler

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
        source = wa.MessageSource(
            Chat=jid(chat),
            Sender=jid(sender, device=3),
            IsFromMe=from_me,
            IsGroup=chat.endswith("@g.us"),
        )
        if sender_alt:
            source.SenderAlt.CopyFrom(jid(sender_alt))
        info = wa.MessageInfo(MessageSource=source, ID=f"IN{next(self.go._ids)}", Pushname=pushname)
        await self.deliver(
            wa.Message(Info=info, Message=Message(conversation=text), IsEdit=is_edit)
        )

    def upload(
        self, data: bytes, media_type: int, *, announced: int | None = None
    ) -> dict[str, Any]:
        """Someone's phone puts a file on the media server (neonize's `MediaType` value); the
        fields a media message carries to find it."""
        path = f"/v/t62.7117-24/{next(self.go._ids)}.enc"
        self.go.uploads[path] = (data, media_type)
        size = len(data) if announced is None else announced
        return {"directPath": path, "fileSHA256": hashlib.sha256(data).digest(), "fileLength": size}

    async def receive_media(
        self,
        chat: str,
        sender: str,
        media: Message,
        *,
        pushname: str = "Ada",
        document_with_caption: bool = False,
    ) -> None:
        """A media message arrives. A document with a caption is sent by WhatsApp wrapped in
        `documentWithCaptionMessage`; whatsmeow hands it over unwrapped, the wrapper as `Raw`."""
        source = wa.MessageSource(
            Chat=jid(chat), Sender=jid(sender, device=3), IsGroup=chat.endswith("@g.us")
        )
        info = wa.MessageInfo(MessageSource=source, ID=f"IN{next(self.go._ids)}", Pushname=pushname)
        event = wa.Message(Info=info, Message=media, IsDocumentWithCaption=document_with_caption)
        if document_with_caption:
            event.Raw.documentWithCaptionMessage.message.CopyFrom(media)
        await self.deliver(event)

    async def drop_silently(self) -> None:
        """The connection dies without an event (a NAT timeout, a suspended laptop)."""
        self.go.clients[self.uuid].online = False

    async def drop_loudly(self) -> None:
        self.go.clients[self.uuid].online = False
        await self.deliver(wa.Disconnected(status=True))

    async def log_out(self, reason: int = wa.ConnectFailureReason.LOGGED_OUT) -> None:
        """Unlinked from the phone: whatsmeow deletes the device and reports the logout."""
        self.go.store_device(self.db, None)
        self.go.clients[self.uuid].online = False
        await self.deliver(wa.LoggedOut(OnConnect=False, Reason=reason))

    def close(self) -> None:
        self.go.close()

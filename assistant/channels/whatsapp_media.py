"""WhatsApp voice notes, audio, photos and documents as an `Attachment` on the `Inbound`.

Only what the message announces (type, mimetype, file name, fileLength) is read here; the bytes
are downloaded through the client (whatsmeow's `DownloadAny`) only when the router has decided
the message goes somewhere, so nothing a stranger sends is fetched.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Awaitable, Callable
from typing import Any

from assistant.messages import Attachment

# what the client downloads a media message with: neonize's `download_any(message) -> bytes`
Download = Callable[[Any], Awaitable[bytes]]

# an extension transcription endpoints recognise (mimetypes says `.oga` for ogg)
_EXTENSIONS = {"audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "image/jpeg": ".jpg"}


def base_mime(mimetype: str, default: str) -> str:
    """`audio/ogg; codecs=opus` -> `audio/ogg`: the type without parameters, lowercased."""
    return mimetype.split(";", 1)[0].strip().lower() or default


def extension(mime: str) -> str:
    return _EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ".bin"


def caption_of(message: Any) -> str:
    """The caption of a photo or document (WhatsApp puts a media message's text there)."""
    if message.HasField("imageMessage"):
        return message.imageMessage.caption
    if message.HasField("documentMessage"):
        return message.documentMessage.caption
    return ""


def attachment_of(message: Any, message_id: str, download: Download) -> Attachment | None:
    """The message's voice note or audio, photo or document, if it has one.

    `message` is the event's `Message` proto as whatsmeow unwrapped it (a document sent with a
    caption arrives as its inner `documentMessage`); that same proto is what `download` gets.
    Videos, stickers and the rest carry nothing a builder or the assistant reads.
    """

    def fetch() -> Awaitable[bytes]:
        return download(message)

    if message.HasField("audioMessage"):
        audio = message.audioMessage
        mime = base_mime(audio.mimetype, "audio/ogg")
        # a push-to-talk recording is a voice note; a forwarded audio file is transcribed too
        name = "voice.ogg" if audio.PTT else f"audio{extension(mime)}"
        return Attachment("voice", mime, name, audio.fileLength or None, fetch)
    if message.HasField("imageMessage"):
        image = message.imageMessage
        mime = base_mime(image.mimetype, "image/jpeg")
        name = f"photo-{message_id}{extension(mime)}"
        return Attachment("photo", mime, name, image.fileLength or None, fetch)
    if message.HasField("documentMessage"):
        document = message.documentMessage
        mime = base_mime(document.mimetype, "application/octet-stream")
        name = document.fileName or document.title or f"file{extension(mime)}"
        return Attachment("document", mime, name, document.fileLength or None, fetch)
    return None

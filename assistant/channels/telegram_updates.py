"""Telegram updates as `Inbound`: where a message was said, who said it, and what it carries.

Kept apart from the channel's sending rules: this side only reads what the Bot API delivered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.messages import Attachment, ChatRef, Inbound, Principal

if TYPE_CHECKING:
    from telegram import Bot, Chat, Message, Update, User


def chat_ref(chat: Chat, message: Message | None = None) -> ChatRef:
    """Where a message was said; a forum topic is its own place (`message_thread_id`)."""
    thread = None
    if message is not None and message.is_topic_message and message.message_thread_id:
        thread = str(message.message_thread_id)
    return ChatRef(
        platform="telegram",
        chat_id=str(chat.id),
        thread_id=thread,
        is_direct=chat.type == "private",
    )


def principal(user: User) -> Principal:
    name = f"@{user.username}" if user.username else user.full_name
    return Principal(platform="telegram", user_id=str(user.id), display_name=name)


def inbound_from_update(
    update: Update, bot_id: int, bot_username: str | None, bot: Bot | None = None
) -> Inbound | None:
    """The update as an `Inbound`, or None for what no one needs to see.

    Dropped here: edits, channel posts, service messages (joins, pins, topic changes), stickers
    and other media without meaning for a builder, and anything sent by a bot (ourselves
    included, so two bots cannot loop). Voice notes, audio, photos and documents come with an
    `Attachment` that `bot` downloads when asked.
    """
    query = update.callback_query
    if query is not None:
        message = query.message
        if message is None or query.data is None or query.from_user.is_bot:
            return None
        return Inbound(
            chat=chat_ref(message.chat, message if _is_message(message) else None),
            sender=principal(query.from_user),
            message_id=str(message.message_id),
            callback_data=query.data,
        )
    message = update.message
    if message is None or message.from_user is None:
        return None
    attachment = attachment_of(message, bot) if bot is not None else None
    if not message.text and attachment is None:
        return None
    if message.from_user.is_bot or message.from_user.id == bot_id:
        return None
    return Inbound(
        chat=chat_ref(message.chat, message),
        sender=principal(message.from_user),
        text=_without_bot_suffix(message.text or message.caption or "", bot_username),
        message_id=str(message.message_id),
        attachment=attachment,
    )


def attachment_of(message: Message, bot: Bot) -> Attachment | None:
    """The message's voice note, audio, photo (largest size) or document, if it has one."""

    def fetcher(file_id: str) -> Any:
        async def fetch() -> bytes:
            # getFile, then GET /file/bot<token>/<file_path>: the Bot API's two steps
            file = await bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())

        return fetch

    if message.voice is not None:
        voice = message.voice
        mime = voice.mime_type or "audio/ogg"
        return Attachment("voice", mime, "voice.ogg", voice.file_size, fetcher(voice.file_id))
    if message.audio is not None:
        audio = message.audio
        mime = audio.mime_type or "audio/mpeg"
        name = audio.file_name or "audio.mp3"
        return Attachment("voice", mime, name, audio.file_size, fetcher(audio.file_id))
    if message.photo:
        photo = message.photo[-1]  # Telegram lists sizes smallest first
        name = f"photo-{photo.file_unique_id}.jpg"
        return Attachment("photo", "image/jpeg", name, photo.file_size, fetcher(photo.file_id))
    if message.document is not None:
        doc = message.document
        mime = doc.mime_type or "application/octet-stream"
        name = doc.file_name or "file"
        return Attachment("document", mime, name, doc.file_size, fetcher(doc.file_id))
    return None


def _is_message(message: object) -> bool:
    from telegram import Message

    return isinstance(message, Message)


def _without_bot_suffix(text: str, bot_username: str | None) -> str:
    # in groups Telegram writes commands as /status@my_bot
    if bot_username and text.startswith("/"):
        command, _, rest = text.partition(" ")
        suffix = f"@{bot_username}"
        if command.lower().endswith(suffix.lower()):
            command = command[: -len(suffix)]
            return f"{command} {rest}" if rest else command
    return text

"""Notifications rendered as chat messages: plain text, the design's emoji, split to fit."""

from __future__ import annotations

from assistant.messages import ChatRef, Choice, Outbound
from assistant.relay._classify import Notification

# Telegram's hard limit is 4096; WhatsApp allows more but long messages fold badly.
MESSAGE_LIMITS: dict[str, int] = {"telegram": 4096, "whatsapp": 4000, "terminal": 100_000}
DEFAULT_LIMIT = 4000
# platforms that show buttons; elsewhere choices become numbered lines
BUTTON_PLATFORMS = frozenset({"telegram"})


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a newline (else a space) where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n ")
    pieces.append(text.rstrip())
    return [p for p in pieces if p] or [""]


def render_text(notification: Notification, buttons: bool) -> str:
    text = f"{notification.emoji} {notification.text}"
    if notification.choices and not buttons:
        numbered = "\n".join(
            f"{n}. {label}" for n, (label, _) in enumerate(notification.choices, 1)
        )
        text = f"{text}\n{numbered}"
    return text


def render(notification: Notification, chat: ChatRef) -> list[Outbound]:
    """One notification as one or more messages for `chat`'s platform."""
    buttons = chat.platform in BUTTON_PLATFORMS
    limit = MESSAGE_LIMITS.get(chat.platform, DEFAULT_LIMIT)
    pieces = split_text(render_text(notification, buttons), limit)
    choices = tuple(Choice(label, data) for label, data in notification.choices)
    extra = {
        "notification_key": notification.key,
        "notification_kind": notification.kind,
        "session_id": notification.session_id,
    }
    messages = [
        Outbound(chat=chat, text=piece, kind="notification", extra=dict(extra)) for piece in pieces
    ]
    # the buttons (or the numbered replies they stand for) belong on the last piece
    messages[-1] = Outbound(
        chat=chat, text=pieces[-1], choices=choices, kind="notification", extra=dict(extra)
    )
    return messages


def one_line(notification: Notification) -> str:
    """`<session id> <kind> <text>` with newlines escaped: the replay command's line format."""
    text = render_text(notification, buttons=False).replace("\\", "\\\\").replace("\n", "\\n")
    return f"{notification.session_id} {notification.kind} {text}"

"""A relay notification: what a builder's session did, said once, for any chat platform.

The relay decides what to tell (text, choices, priority); the channel decides how it looks
(buttons or numbered replies, message limits, splitting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.messages import ChatRef, Choice, Outbound, OutboundFile, Priority

Kind = Literal[
    "started",
    "complete",
    "question",
    "permission",
    "error",
    "command_failed",
    "tests_failed",
    "undelivered",
    "budget",
    "session",
]

EMOJI: dict[Kind, str] = {
    "started": "🔨",
    "complete": "✅",
    "question": "❓",
    "permission": "🔒",
    "error": "❌",
    "command_failed": "⚠️",
    "tests_failed": "🧪",
    "undelivered": "⚠️",
    "budget": "💸",
    "session": "🔄",
}

# what waits on the user or went wrong; the rest (a turn started or ended, a command the
# builder will likely fix itself) is progress
NEEDS_YOU: frozenset[Kind] = frozenset(
    {"question", "permission", "error", "tests_failed", "undelivered", "budget"}
)


@dataclass(frozen=True)
class Notification:
    """One chat notification. `key` names its cause, so it is delivered at most once."""

    key: str
    session_id: str
    kind: Kind
    text: str
    # answers a chat can send back: buttons on one platform, numbered replies on another
    choices: tuple[Choice, ...] = ()
    # the relay must abort the session (the retry limit was reached)
    abort: bool = False
    # sent with it (a "Done" carries the files the turn made for the user to look at)
    files: tuple[OutboundFile, ...] = ()
    # every chat bound to the builder hears it, not only the chats that asked for the turn
    broadcast: bool = False

    @property
    def emoji(self) -> str:
        return EMOJI[self.kind]

    @property
    def priority(self) -> Priority:
        return "needs_you" if self.kind in NEEDS_YOU else "progress"

    @property
    def line(self) -> str:
        """The text every chat shows, without the choices (its channel renders those)."""
        return f"{self.emoji} {self.text}"

    def message(self, chat: ChatRef) -> Outbound:
        """The notification addressed to `chat`, for its channel to render."""
        return Outbound(
            chat=chat,
            text=self.line,
            choices=self.choices,
            kind="notification",
            priority=self.priority,
            files=self.files,
            extra={
                "notification_key": self.key,
                "notification_kind": self.kind,
                "session_id": self.session_id,
            },
        )

"""Who hears a notification, and sending it to each of those chats once.

A turn's notifications go to the chats whose messages the relay forwarded into that turn;
anything no chat asked for here (a turn started from OpenCode's own UI or another client, a
request re-announced after a restart) goes to every chat bound to the builder.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from assistant.messages import ChatRef, Outbound
from assistant.relay._bindings import Binding, BoundChats
from assistant.relay._classify import first_line
from assistant.relay._journal import (
    ANY_CHAT,
    HistoryWriter,
    delivery_states,
    mark_reported,
    record_delivery,
    unreported_failures,
)
from assistant.relay._notice import Notification
from assistant.relay._reports import reported
from assistant.store import Store

log = logging.getLogger(__name__)

Send = Callable[[Outbound], Awaitable[str | None]]
MISSED_LISTED = 10  # undelivered notifications named one by one in the catch-up notice


class Audience:
    """The chats that addressed each session's current (or last) turn."""

    def __init__(self) -> None:
        self._askers: dict[str, dict[str, ChatRef]] = {}  # session id -> chats, by chat key
        self._turn_over: set[str] = set()  # sessions idle since their askers' turn ended

    def asked(self, session_id: str, binding: Binding) -> None:
        """A chat's message is about to start (or join) the session's turn."""
        self.turn_started(session_id)
        self._askers.setdefault(session_id, {})[binding.chat_key] = binding.chat()

    def turn_started(self, session_id: str) -> None:
        # no chat here asked for this turn since the last one ended: every chat hears it
        if session_id in self._turn_over:
            self._turn_over.discard(session_id)
            self._askers.pop(session_id, None)

    def turn_ended(self, session_id: str) -> None:
        # the askers are kept: an error OpenCode reports after idle still goes to them
        self._turn_over.add(session_id)

    def chats(self, bound: dict[str, ChatRef], session_id: str) -> list[ChatRef]:
        """Of the builder's bound chats, those that asked; all of them when none did."""
        askers = [chat for key, chat in self._askers.get(session_id, {}).items() if key in bound]
        return askers or list(bound.values())


class Delivery:
    """Sends each notification to its chats, once per chat, recording what failed.

    A chat that could not be reached is told what it missed the next time a notification
    reaches it."""

    def __init__(self, store: Store, bound: BoundChats, history: HistoryWriter) -> None:
        self.store = store
        self.bound = bound
        self.history = history
        self.audience = Audience()

    async def deliver(self, builder: str, notification: Notification, send: Send) -> bool:
        """Send to the notification's chats; True when every one of them got it just now."""
        states = delivery_states(self.store, notification.key)
        if states.get(ANY_CHAT) == "sent":
            return False
        sent: list[ChatRef] = []
        errors: list[str] = []
        bound = self.bound.chats_of(builder)
        if notification.broadcast:
            chats = list(bound.values())
        else:
            chats = self.audience.chats(bound, notification.session_id)
        for chat in chats:
            if states.get(chat.key) == "sent":
                continue
            message = notification.message(chat)
            if chat.is_direct:  # a builder reporting to its principal's DM, unbound
                message = reported(builder, message)
            try:
                await send(message)
            except Exception as exc:  # any channel failure is reported, never lost
                errors.append(f"{chat.key}: {exc!r}")
                record_delivery(
                    self.store, notification, chat.key, "failed", repr(exc), notification.line
                )
                continue
            record_delivery(self.store, notification, chat.key, "sent")
            sent.append(chat)
            await self._report_missed(chat, send)
        if errors:
            log.warning("notification %s not delivered: %s", notification.key, "; ".join(errors))
        if not states and (sent or errors):  # once in the history, however often it is retried
            payload: dict[str, object] = {"kind": notification.kind, "text": notification.line}
            if notification.files:
                # names and sizes only: the bytes live in the builder's worktree
                payload["files"] = [
                    {"name": f.filename, "bytes": f.size} for f in notification.files
                ]
            self.history.record(builder, notification.session_id, "relay.notification", payload)
        return bool(sent) and not errors

    async def _report_missed(self, chat: ChatRef, send: Send) -> None:
        """Tell a chat that just got a notification what earlier ones never reached it."""
        missed = unreported_failures(self.store, chat.key)
        if not missed:
            return
        count = len(missed)
        lines = [
            f"{count} earlier notification{'s' if count > 1 else ''} could not be delivered here:"
        ]
        lines += [f"• {first_line(m['text'] or m['kind'])}" for m in missed[:MISSED_LISTED]]
        if count > MISSED_LISTED:
            lines.append(f"• … and {count - MISSED_LISTED} more")
        lines.append("/history shows what the builder said.")
        last = missed[-1]
        notice = Notification(
            f"undelivered:{chat.key}:{last['notification_key']}",
            last["session_id"],
            "undelivered",
            "\n".join(lines),
        )
        try:
            await send(notice.message(chat))
        except Exception as exc:  # still unreported: the next delivery tries again
            log.warning("could not tell %s about missed notifications: %r", chat.key, exc)
            return
        mark_reported(self.store, chat.key, [m["notification_key"] for m in missed])

"""A builder turn's status message, edited in place while the turn runs, where a chat can.

The "Started" message of a turn becomes its status: every few seconds (never more often) it is
edited to show the time elapsed and the tool the builder runs now, on a timer, so the time moves
on even when the builder is quiet. The turn's end replaces it: a "Done" takes its place by edit
(news that need not ring); what needs the user (an error, a question, an approval, failed
tests) arrives as a new message, so the phone rings, and the status is edited to one last line.

Chats whose platform cannot edit silently and often (the gateway says which) get no edits: the
Started message and the final notification only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from assistant.messages import ChatRef, Outbound
from assistant.relay._classify import first_line
from assistant.relay._delivery import Send
from assistant.relay._notice import EMOJI, NEEDS_YOU
from tools.opencode import Event

log = logging.getLogger(__name__)

STATUS_EVERY = 5.0  # seconds between two edits of one status message (Telegram: ~1 edit/s/chat)
STATUS_VARIABLE = "FOREMAN_STATUS_SECONDS"
TOOL_PREVIEW = 60  # characters of a running tool's command or title shown in the status
# what ends a status with a new, ringing message; the catch-up notice is about other turns
_CLOSING = NEEDS_YOU - {"undelivered"}

# whether a chat's platform edits a message in place silently (so a status can tick in it)
Editable = Callable[[ChatRef], bool]


def status_every_from_env() -> float:
    """`FOREMAN_STATUS_SECONDS`: the least time between two edits of a status message."""
    value = os.environ.get(STATUS_VARIABLE, "").strip()
    try:
        seconds = float(value) if value else STATUS_EVERY
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"{STATUS_VARIABLE} must be a positive number of seconds, got {value!r}")
    return seconds


def elapsed(seconds: float) -> str:
    """`42s`, `3m 05s`, `1h 02m`: short enough for a phone's status line."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def tool_label(part: dict[str, Any]) -> str:
    """A running tool as a user reads it: `bash: pytest -q`, `edit: app.py`, `read`."""
    name = str(part.get("tool") or "tool")
    state = part.get("state") or {}
    given = state.get("input") or {}
    if not isinstance(given, dict):
        given = {}
    for detail in (
        given.get("command"),
        state.get("title"),
        given.get("filePath"),
        given.get("pattern"),
        given.get("url"),
        given.get("description"),
    ):
        if isinstance(detail, str) and detail.strip():
            return f"{name}: {first_line(detail, TOOL_PREVIEW)}"
    return name


@dataclass
class _Turn:
    """One running turn's status: where it is shown and what it shows."""

    key: str  # the Started notification's key
    headline: str  # the Started line the status keeps on top
    since: float
    send: Send
    messages: dict[str, tuple[ChatRef, str]] = field(default_factory=dict)  # chat key -> id
    tools: dict[str, str] = field(default_factory=dict)  # running part id -> label, oldest first
    shown: dict[str, str] = field(default_factory=dict)  # chat key -> the text it shows now
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ticker: asyncio.Task[None] | None = None


class StatusLines:
    """The status message of every running turn, per chat, and its timer."""

    def __init__(
        self,
        every: float,
        editable: Editable = lambda chat: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.every = every
        self.editable = editable
        self.clock = clock
        self.turns: dict[str, _Turn] = {}  # session id -> its running turn
        self.edits = 0  # status edits sent (for health and tests)

    def through(self, send: Send) -> Send:
        """`send`, with a turn's notifications placed around its status message."""

        async def placed(message: Outbound) -> str | None:
            kind = message.extra.get("notification_kind")
            session_id = message.extra.get("session_id", "")
            if kind == "started":
                message_id = await send(message)
                self._opened(session_id, message, message_id, send)
                return message_id
            turn = self.turns.get(session_id)
            if turn is None or message.chat.key not in turn.messages:
                return await send(message)
            if kind == "complete":
                return await self._replace(turn, message, send)
            if kind in _CLOSING:
                message_id = await send(message)  # a new message: it rings
                await self._close(turn, message.chat.key, f"{EMOJI[kind]} see below")
                return message_id
            return await send(message)

        return placed

    def track(self, event: Event) -> None:
        """Note the tool a running turn's builder starts or finishes."""
        turn = self.turns.get(event.session_id or "")
        if turn is None or event.type != "message.part.updated":
            return
        part = event.properties.get("part") or {}
        if not isinstance(part, dict) or part.get("type") != "tool":
            return
        part_id = str(part.get("id") or part.get("callID") or "")
        status = (part.get("state") or {}).get("status")
        if status == "running":
            turn.tools[part_id] = tool_label(part)
        else:
            turn.tools.pop(part_id, None)

    async def end(self, session_id: str, last: str = "ended") -> None:
        """The turn is over: any status still shown gets its last line; the timer stops."""
        turn = self.turns.pop(session_id, None)
        if turn is None:
            return
        _stop(turn)
        for chat_key in list(turn.messages):
            await self._close(turn, chat_key, last)

    async def stop(self) -> None:
        """The relay stops: no timer outlives it (the statuses stay as last edited)."""
        turns, self.turns = list(self.turns.values()), {}
        for turn in turns:
            _stop(turn)
        await asyncio.gather(*(t.ticker for t in turns if t.ticker), return_exceptions=True)

    def text(self, turn: _Turn, note: str | None = None) -> str:
        doing = note or (next(reversed(turn.tools.values())) if turn.tools else "working")
        return f"{turn.headline}\n⏱ {elapsed(self.clock() - turn.since)} · {doing}"

    def _opened(
        self, session_id: str, message: Outbound, message_id: str | None, send: Send
    ) -> None:
        if message_id is None or not self.editable(message.chat):
            return
        key = message.extra.get("notification_key", "")
        turn = self.turns.get(session_id)
        if turn is None or turn.key != key:
            if turn is not None:  # a turn that never ended here: its timer goes
                _stop(turn)
            turn = _Turn(key, message.text, self.clock(), send)
            turn.ticker = asyncio.create_task(self._tick(turn), name=f"status-{session_id}")
            self.turns[session_id] = turn
        turn.messages[message.chat.key] = (message.chat, message_id)

    async def _tick(self, turn: _Turn) -> None:
        while turn.messages:
            await asyncio.sleep(self.every)
            async with turn.lock:
                text = self.text(turn)
                for chat_key, (chat, message_id) in list(turn.messages.items()):
                    if turn.shown.get(chat_key) == text:
                        continue  # nothing new to show: no edit spent on it
                    if not await self._edit(turn, chat, message_id, text):
                        # gone (deleted, unreachable): the final comes as a new message
                        turn.messages.pop(chat_key, None)

    async def _edit(self, turn: _Turn, chat: ChatRef, message_id: str, text: str) -> bool:
        status = Outbound(
            chat,
            text,
            replaces_message_id=message_id,
            kind="status",
            priority="progress",
        )
        try:
            await turn.send(status)
        except Exception as exc:  # any channel failure: the status is cosmetic
            log.info("relay: the status in %s could not be edited: %r", chat.key, exc)
            return False
        self.edits += 1
        turn.shown[chat.key] = text
        return True

    async def _replace(self, turn: _Turn, message: Outbound, send: Send) -> str | None:
        """A Done takes the status message's place; if that edit fails, it is sent anew."""
        async with turn.lock:
            chat, message_id = turn.messages.pop(message.chat.key)
            if not turn.messages:
                _stop(turn)
            try:
                return await send(replace(message, replaces_message_id=message_id))
            except Exception as exc:  # e.g. the status was deleted: the Done still arrives
                log.info("relay: the Done could not replace the status in %s: %r", chat.key, exc)
        return await send(message)

    async def _close(self, turn: _Turn, chat_key: str, last: str) -> None:
        async with turn.lock:
            shown = turn.messages.pop(chat_key, None)
            if not turn.messages:
                _stop(turn)
            if shown is not None:
                chat, message_id = shown
                await self._edit(turn, chat, message_id, self.text(turn, last))


def _stop(turn: _Turn) -> None:
    ticker = turn.ticker
    if ticker is not None and ticker is not _current_task():
        ticker.cancel()


def _current_task() -> asyncio.Task[Any] | None:
    with contextlib.suppress(RuntimeError):
        return asyncio.current_task()
    return None

"""Builder → chat: OpenCode's event stream classified into notifications and delivered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

from assistant.messages import OutboundFile
from assistant.relay._bindings import BoundChats
from assistant.relay._classify import (
    IDLE,
    classify,
    permission_notification,
    question_notification,
)
from assistant.relay._delivery import Delivery, Send
from assistant.relay._journal import HistoryWriter, record_delivery
from assistant.relay._notice import Notification
from assistant.relay._sessions import Cause, Sessions, context_notice
from assistant.relay._spend import Spending
from assistant.relay._status import StatusLines, status_every_from_env
from tools.opencode import (
    Event,
    MalformedEvent,
    NotFound,
    OpenCodeClient,
    OpenCodeError,
    Resync,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DoneExtra:
    """What a note adds to a "Done": lines under the reply, and files sent with it."""

    text: str = ""
    files: tuple[OutboundFile, ...] = ()


# one more line for a builder's "Done" (its diffstat, its cost), from (builder, notification),
# or a `DoneExtra` with files too; None adds nothing. A failing note is logged and left out:
# the Done itself always goes out.
DoneNote = Callable[[str, Notification], Awaitable[str | DoneExtra | None]]
# told, with the builder's name, that a turn is about to start ("prompting": the relay is about
# to send a chat's message to an idle session) or has started ("busy": the session went busy,
# whoever prompted it); a failing watch is logged and changes nothing
TurnPhase = Literal["prompting", "busy"]
TurnWatch = Callable[[str, TurnPhase], Awaitable[None]]

DEFAULT_RETRY_LIMIT = 5
# seconds a prompt waits for the relay's event stream to (re)open: a restarted OpenCode server
# can take longer than 15 s to be followed again on a loaded machine, and a turn sent before
# then would run unwatched (no Started, no Done)
LISTEN_WAIT = 60.0


def retry_limit_from_env() -> int:
    value = os.environ.get("FOREMAN_RETRY_LIMIT", "")
    try:
        return int(value) if value else DEFAULT_RETRY_LIMIT
    except ValueError as exc:
        raise ValueError(f"FOREMAN_RETRY_LIMIT must be a whole number, got {value!r}") from exc


class _BuilderDirectories:
    """The heard builders' directories, re-read at every reconnect (bindings may change)."""

    def __init__(self, bound: BoundChats) -> None:
        self.bound = bound

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({self.bound.directory(b) for b in self.bound.builders()}))


class EventStream:
    """Consumes the events of every bound builder's session, keeps each session's state, and
    hands the notifications the fixed table calls for to delivery."""

    def __init__(
        self,
        opencode: OpenCodeClient,
        bound: BoundChats,
        sessions: Sessions,
        delivery: Delivery,
        history: HistoryWriter,
        retry_limit: int,
        max_backoff: float,
        spending: Spending | None = None,
        status_every: float | None = None,
    ) -> None:
        self.opencode = opencode
        self.bound = bound
        self.sessions = sessions
        self.delivery = delivery
        self.history = history
        self.retry_limit = retry_limit
        self.max_backoff = max_backoff  # the longest wait between reconnects to OpenCode
        self.listening = asyncio.Event()  # set once `run` has the event stream open
        self._running = False
        self.malformed = 0  # events skipped because of their shape (shown in health, doctor)
        self.done_notes: list[DoneNote] = []
        self.spending = spending  # what the builder's messages cost, and its budget
        self.turn_watches: list[TurnWatch] = []
        every = status_every if status_every is not None else status_every_from_env()
        self.status = StatusLines(every)  # each running turn's status message, where editable

    async def with_done_notes(self, builder: str, notification: Notification) -> Notification:
        """A "Done" with each registered note's line added under the builder's reply."""
        if notification.kind != "complete" or not self.done_notes:
            return notification
        lines: list[str | DoneExtra] = []
        for note in self.done_notes:
            try:
                line = await note(builder, notification)
            except Exception:  # a note is extra: its failure never holds back the Done
                log.exception("relay: a Done note failed for %s", builder)
                continue
            if line:
                lines.append(line)
        if not lines:
            return notification
        texts = [x.text if isinstance(x, DoneExtra) else x for x in lines]
        files = [f for x in lines if isinstance(x, DoneExtra) for f in x.files]
        return replace(
            notification,
            text="\n".join([notification.text, *(t for t in texts if t)]),
            files=(*notification.files, *files),
        )

    async def tell_turn(self, builder: str, phase: TurnPhase) -> None:
        """Tell each turn watch that a turn of `builder` is starting or started."""
        for watch in self.turn_watches:
            try:
                await watch(builder, phase)
            except Exception:  # a watch is extra: its failure never holds back the relay
                log.exception("relay: a turn watch failed for %s", builder)

    def skip_malformed(self, reason: str) -> None:
        """One event OpenCode sent in a shape the relay cannot read: skipped, counted, logged."""
        self.malformed += 1
        log.warning(
            "relay: skipped a malformed OpenCode event (%d so far): %s", self.malformed, reason
        )

    async def until_open(self) -> None:
        """While the relay runs, wait (a bounded time) for its event stream to be open."""
        if self._running and not self.listening.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LISTEN_WAIT):
                    await self.listening.wait()

    async def run(self, send: Send) -> None:
        """Consume OpenCode events forever and send the notifications they call for."""
        self._running = True
        events = self.opencode.events(
            resync_directories=_BuilderDirectories(self.bound),
            max_backoff=self.max_backoff,
            on_malformed=self.skip_malformed,
            # a prompt sent while the stream is down (OpenCode restarting) would finish unseen:
            # the forwarder waits for the reconnect instead
            on_lost=self.listening.clear,
        )
        try:
            async for event in events:
                try:
                    await self.process(event, send)
                except OpenCodeError as exc:
                    # a failed call must not stop the relay; the next resync repairs the state
                    log.warning("relay: %s while handling %s", exc, getattr(event, "type", event))
                except MalformedEvent as exc:
                    self.skip_malformed(str(exc))
        finally:
            self._running = False
            self.listening.clear()
            await self.status.stop()
            await self.history.flush()

    async def process(self, event: Event | Resync, send: Send) -> list[Notification]:
        """One event (or reconnect snapshot): update state, deliver notifications."""
        send = self.status.through(send)
        if isinstance(event, Resync):
            sent = await self._resync(event, send)
            self.listening.set()
        else:
            sent = await self._event(event, send)
        return sent + await self.tell_context_lost(send)

    async def tell_context_lost(self, send: Send) -> list[Notification]:
        """One line to a builder's chats for each session replaced or compacted since the
        last time (the chat whose own command did it was told by its reply)."""
        told: list[Notification] = []
        while self.sessions.lost:
            lost = self.sessions.lost.pop(0)
            notification = context_notice(lost)
            if lost.told is not None:
                record_delivery(self.delivery.store, notification, lost.told, "sent")
            await self.delivery.deliver(lost.builder, notification, send)
            told.append(notification)
        return told

    async def _event(self, event: Event, send: Send) -> list[Notification]:
        builder = self.bound.builder_of_directory(event.directory)
        session_id = event.session_id
        if builder is None or session_id is None:
            return []
        if event.type == "session.created":
            info = event.properties.get("info") or {}
            if info.get("parentID") is None:
                replaced = self.sessions.current(builder)
                # a newer root session takes over (from /new, OpenCode's UI, another client)
                cause: Cause | None = None if self.sessions.creating(builder) else "other"
                self.sessions.switch(builder, session_id, cause=cause)
                if replaced is not None and replaced != session_id:
                    await self.status.end(replaced)
        current = await self.sessions.session_for(builder, create=False)
        if session_id != current:
            return await self._spent_by_subagent(builder, session_id, current, event, send)
        if event.type == "session.compacted":
            self.sessions.compacted(builder, session_id, event.id or "")
        before = self.sessions.states.get(session_id, IDLE)
        # classified first: a malformed event raises here, before anything is recorded
        state, notification = classify(before, event, retry_limit=self.retry_limit)
        self.history.record(builder, session_id, event.type, {"id": event.id, **event.properties})
        self.sessions.track(event)
        self.status.track(event)
        self.sessions.states[session_id] = state
        audience = self.delivery.audience
        if state.busy and not before.busy:
            audience.turn_started(session_id)
            if self.spending is not None:
                self.spending.turn_started(builder, session_id, event.id)
            await self.tell_turn(builder, "busy")
        if before.busy and not state.busy:
            audience.turn_ended(session_id)
        sent = await self._spent(builder, session_id, event, before.busy or state.busy, send)
        if notification is None:
            if before.busy and not state.busy:
                await self.status.end(session_id)
            return sent
        if notification.abort:
            try:
                await self.opencode.abort(notification.session_id)
            except OpenCodeError as exc:
                log.warning("abort after retry limit failed: %s", exc)
        notification = await self.with_done_notes(builder, notification)
        await self.delivery.deliver(builder, notification, send)
        if before.busy and not state.busy:
            await self.status.end(session_id)
        return [*sent, notification]

    async def _spent(
        self,
        builder: str,
        session_id: str,
        event: Event,
        busy: bool,
        send: Send,
        turn_of: str | None = None,
    ) -> list[Notification]:
        """Record what a message cost; deliver the budget's warning or stop, if it calls for one."""
        if self.spending is None:
            return []
        notices = await self.spending.observe(builder, session_id, event, busy, turn_of=turn_of)
        for notice in notices:
            await self.delivery.deliver(builder, notice, send)
        return notices

    async def _spent_by_subagent(
        self, builder: str, session_id: str, current: str | None, event: Event, send: Send
    ) -> list[Notification]:
        """A subagent's session (OpenCode's task tool) tells the chat nothing, but what its
        model calls cost is the builder's, and the turn's that started it."""
        if self.spending is None or current is None:
            return []
        if event.type == "session.created":
            info = event.properties.get("info") or {}
            if info.get("parentID") == current:
                self.spending.subagents[session_id] = current
            return []
        if self.spending.subagents.get(session_id) != current:
            return []
        busy = self.sessions.states.get(current, IDLE).busy
        return await self._spent(builder, session_id, event, busy, send, turn_of=current)

    async def _resync(self, resync: Resync, send: Send) -> list[Notification]:
        """After a (re)connect: repair each session's state and re-announce what is pending."""
        sent: list[Notification] = []
        sessions = self.sessions
        for builder in self.bound.builders():
            known = sessions.current(builder)
            if known is not None and not await self._still_there(builder, known):
                sessions.gone(builder)  # told once, however many chats share the builder
                await self.status.end(known)
            session_id = await sessions.session_for(builder, create=False)
            if session_id is None:
                continue
            state = sessions.states.get(session_id, IDLE)
            status = resync.statuses.get(session_id)
            if state.busy and self.spending is not None:
                # the model calls made while the stream was down are not replayed: read them
                notices = await self.spending.catch_up(builder, session_id, status is not None)
                for notice in notices:
                    if await self.delivery.deliver(builder, notice, send):
                        sent.append(notice)
            if status is not None and not state.busy:
                sessions.states[session_id] = replace(state, status=status.type)
            elif status is None and state.busy:
                notification = await self._ended_while_away(session_id)
                notification = await self.with_done_notes(builder, notification)
                sessions.states[session_id] = replace(state, status="idle")
                self.delivery.audience.turn_ended(session_id)
                if await self.delivery.deliver(builder, notification, send):
                    sent.append(notification)
                await self.status.end(session_id)
            sessions.permissions.pop(session_id, None)
            sessions.questions.pop(session_id, None)
            for permission in resync.permissions:
                if permission.session_id == session_id:
                    sessions.permissions[session_id] = permission
                    notification = permission_notification(permission)
                    if await self.delivery.deliver(builder, notification, send):
                        sent.append(notification)
            for question in resync.questions:
                if question.session_id == session_id:
                    sessions.questions[session_id] = question
                    notification = question_notification(question)
                    if await self.delivery.deliver(builder, notification, send):
                        sent.append(notification)
        return sent

    async def _still_there(self, builder: str, session_id: str) -> bool:
        """Whether OpenCode still has the session (a restart with its data gone has not)."""
        try:
            await self.opencode.get_session(session_id, self.bound.directory(builder))
        except NotFound:
            return False
        except OpenCodeError:  # unreachable or failing: not evidence that it is gone
            return True
        return True

    async def _ended_while_away(self, session_id: str) -> Notification:
        """A turn that ended while the stream was down: done if it finished, else interrupted."""
        last = None
        try:
            recent = await self.opencode.messages(session_id, limit=6)
        except OpenCodeError:
            recent = []
        for entry in reversed(recent):
            if (entry.get("info") or {}).get("role") == "assistant":
                last = entry
                break
        info = (last or {}).get("info") or {}
        key = f"{session_id}:ended:{info.get('id', 'unknown')}"
        finished = info.get("finish") == "stop" and not info.get("error")
        if finished and (info.get("time") or {}).get("completed"):
            texts = [p.get("text", "") for p in last.get("parts", []) if p.get("type") == "text"]
            reply = texts[-1].strip() if texts else ""
            text = "Done\n" + reply if reply else "Done (no reply text)"
            return Notification(key, session_id, "complete", text)
        text = "The turn was interrupted (OpenCode restarted or the connection dropped)."
        return Notification(key, session_id, "error", text)

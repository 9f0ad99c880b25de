"""Each bound builder's current OpenCode session, and what that session is waiting on."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from assistant.relay._classify import SessionState
from assistant.relay._notice import Notification
from tools.opencode import Event, OpenCodeClient, Permission, Question, Session

# why a builder's chats now talk to a session that does not remember their conversation
Cause = Literal["new", "other", "lost", "compacted"]


@dataclass(frozen=True)
class ContextLost:
    """The builder's session was replaced, or its conversation compacted: its chats are told.

    `told` is the chat whose own command caused it (its reply said so already)."""

    builder: str
    session_id: str  # the session the chats talk to from now on (or the compacted one)
    cause: Cause
    key: str  # names the cause, so each is told once
    told: str | None = None


# what the chats read, per cause: what happened, and what the builder no longer knows
CONTEXT_LOST: dict[Cause, str] = {
    "new": "{builder} started a fresh session: it no longer remembers this conversation.",
    "other": "Another session took over {builder} (started outside this chat): it no longer "
    "remembers this conversation.",
    "lost": "{builder}'s session is gone from OpenCode (deleted, or lost in a restart): "
    "messages go to a fresh one, which does not know this conversation.",
    "compacted": "{builder}'s conversation was compacted into a summary: it may have forgotten "
    "details from earlier on.",
}


def context_notice(lost: ContextLost) -> Notification:
    """The one line a builder's chats get when its session forgot their conversation."""
    text = CONTEXT_LOST[lost.cause].format(builder=lost.builder)
    return Notification(lost.key, lost.session_id, "session", text, broadcast=True)


class Sessions:
    """The session a builder's chats talk to (the newest root session, or one they chose with
    /new or /fork), its classifier state, and its pending permission and question."""

    def __init__(
        self,
        opencode: OpenCodeClient,
        directory: Callable[[str], str],
        permission: list[dict[str, str]] | None = None,
    ) -> None:
        self.opencode = opencode
        self.directory = directory
        # the permission rules a session the relay creates starts with (None: OpenCode's)
        self.permission = permission
        self.states: dict[str, SessionState] = {}
        self.permissions: dict[str, Permission] = {}  # session id -> pending permission
        self.questions: dict[str, Question] = {}  # session id -> pending question
        self._current: dict[str, str] = {}  # builder -> its session id
        self.lost: list[ContextLost] = []  # not yet told to the builder's chats
        self.compacting: dict[str, str] = {}  # session id -> the chat whose /compact runs
        # builders the relay is creating a session for right now: OpenCode's event about it
        # may come before its answer, and is no other client's session taking over
        self._creating: dict[str, int] = {}

    def current(self, builder: str) -> str | None:
        """The session the relay talks to for `builder`, if it has looked one up yet."""
        return self._current.get(builder)

    async def session_for(self, builder: str, create: bool = True) -> str | None:
        """The builder's session: the newest root session in its directory (made if none)."""
        if builder in self._current:
            return self._current[builder]
        directory = self.directory(builder)
        roots = [s for s in await self.opencode.list_sessions(directory) if s.parent_id is None]
        if roots:
            self._current[builder] = roots[0].id
        elif create:
            await self.start_new(builder)
        return self._current.get(builder)

    async def start_new(
        self, builder: str, cause: Cause = "new", told: str | None = None
    ) -> Session:
        """A fresh session for the builder, which its chats talk to from now on."""
        replaced = self._current.get(builder)
        with self._making(builder):
            session = await self.opencode.create_session(
                self.directory(builder), title=builder, permission=self.permission
            )
        self._current[builder] = session.id
        if replaced is not None and replaced != session.id:
            self.lost.append(ContextLost(builder, session.id, cause, f"{session.id}:fresh", told))
        return session

    async def fork(self, builder: str, session_id: str) -> Session:
        """A fork of the session (its conversation copied), which the chats talk to now."""
        with self._making(builder):
            fork = await self.opencode.fork(session_id)
        self.switch(builder, fork.id)
        return fork

    def creating(self, builder: str) -> bool:
        """Whether the relay itself is making a session for the builder right now."""
        return self._creating.get(builder, 0) > 0

    @contextlib.contextmanager
    def _making(self, builder: str) -> Iterator[None]:
        self._creating[builder] = self._creating.get(builder, 0) + 1
        try:
            yield
        finally:
            self._creating[builder] -= 1

    def switch(self, builder: str, session_id: str, cause: Cause | None = None) -> None:
        """Talk to `session_id` from now on; with a cause, the chats hear it is a fresh start."""
        replaced = self._current.get(builder)
        self._current[builder] = session_id
        if cause is not None and replaced is not None and replaced != session_id:
            self.lost.append(ContextLost(builder, session_id, cause, f"{session_id}:fresh"))

    def compacted(self, builder: str, session_id: str, event_id: str) -> None:
        """OpenCode compacted the session's conversation into a summary."""
        told = self.compacting.pop(session_id, None)
        key = f"{session_id}:compacted:{event_id}"
        self.lost.append(ContextLost(builder, session_id, "compacted", key, told))

    def gone(self, builder: str) -> None:
        """The builder's session no longer exists (OpenCode restarted without it)."""
        replaced = self._current.pop(builder, None)
        if replaced is not None:
            self.lost.append(ContextLost(builder, replaced, "lost", f"{replaced}:lost"))

    def forget(self, builder: str) -> None:
        """Look the builder's session up again next time (its chat was just bound)."""
        self._current.pop(builder, None)

    def track(self, event: Event) -> None:
        """Note a permission or question being asked or answered."""
        props = event.properties
        sid = event.session_id or ""
        if event.type == "permission.asked":
            self.permissions[sid] = Permission.from_json(props)
        elif event.type == "permission.replied":
            self.permissions.pop(sid, None)
        elif event.type == "question.asked":
            self.questions[sid] = Question.from_json(props)
        elif event.type in ("question.replied", "question.rejected"):
            self.questions.pop(sid, None)

    async def answer(self, question: Question, answer: str) -> None:
        await self.opencode.reply_question(question.id, [[answer]])
        self.questions.pop(question.session_id, None)


def match_answer(question: Question, text: str) -> str | None:
    """An option label from a reply: its number (1-based) or its label, any case."""
    if not question.questions:
        return None
    options = question.questions[0].options
    text = text.strip()
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1].label
    for option in options:
        if option.label.lower() == text.lower():
            return option.label
    return None

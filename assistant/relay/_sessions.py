"""Each bound builder's current OpenCode session, and what that session is waiting on."""

from __future__ import annotations

from collections.abc import Callable

from assistant.relay._classify import SessionState
from tools.opencode import Event, OpenCodeClient, Permission, Question, Session


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

    async def start_new(self, builder: str) -> Session:
        """A fresh session for the builder, which its chats talk to from now on."""
        session = await self.opencode.create_session(
            self.directory(builder), title=builder, permission=self.permission
        )
        self._current[builder] = session.id
        return session

    def switch(self, builder: str, session_id: str) -> None:
        self._current[builder] = session_id

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

"""Chat → builder: what a group says reaches the builder's session, by the binding's trigger."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

from assistant.messages import Inbound, Outbound, Principal
from assistant.relay._bindings import Binding
from assistant.relay._classify import IDLE
from assistant.relay._delivery import Audience
from assistant.relay._journal import HistoryWriter
from assistant.relay._sessions import Sessions, match_answer
from tools.opencode import FilePart, NotFound, OpenCodeClient

CONTEXT_LIMIT = 20  # unaddressed group messages kept per chat for the next addressed one
CONTEXT_HEADER = "Messages in the group chat since you were last addressed (context only):"


class Forwarder:
    """An addressed message goes to the builder, preceded by the group talk it missed; an
    unaddressed one is kept as that context; a reply to a pending question answers it."""

    def __init__(
        self,
        opencode: OpenCodeClient,
        sessions: Sessions,
        audience: Audience,
        history: HistoryWriter,
        stream_open: Callable[[], Awaitable[None]],
    ) -> None:
        self.opencode = opencode
        self.sessions = sessions
        self.audience = audience
        self.history = history
        # waits (bounded) until the relay hears the builder's events, when it is running
        self.stream_open = stream_open
        self._context: dict[str, deque[str]] = {}  # chat key -> unaddressed messages
        # awaited with the builder's name before a prompt starts a turn (see Relay.add_turn_watch)
        self.before_turn: Callable[[str], Awaitable[None]] | None = None

    async def handle(self, binding: Binding, message: Inbound, text: str) -> list[Outbound]:
        """A plain (non-command) message in a bound chat; returns the immediate replies."""
        session_id = await self.sessions.session_for(binding.builder)
        assert session_id is not None
        if message.attachment is not None:
            return await self._with_file(binding, session_id, message, text)
        question = self.sessions.questions.get(session_id)
        if question is not None:
            answer = match_answer(question, text)
            if answer is not None:
                await self.sessions.answer(question, answer)
                return [Outbound(chat=message.chat, text=f"Answered: {answer}")]
        forward = binding.addressed(text)
        if forward is None:
            buffer = self._context.setdefault(binding.chat_key, deque(maxlen=CONTEXT_LIMIT))
            buffer.append(f"{author(message.sender)}: {text}")
            return []
        await self.forward(binding, session_id, message.sender, forward)
        return []

    async def _with_file(
        self, binding: Binding, session_id: str, message: Inbound, caption: str
    ) -> list[Outbound]:
        """A photo or document: its caption is the text (and what the trigger is checked on)."""
        attachment = message.attachment
        assert attachment is not None
        forward = binding.addressed(caption)
        if forward is None:
            buffer = self._context.setdefault(binding.chat_key, deque(maxlen=CONTEXT_LIMIT))
            buffer.append(f"{author(message.sender)}: [sent {attachment.filename}] {caption}")
            return []
        try:
            data = await attachment.fetch()
        except Exception:  # the platform's client: any failure means "not downloaded"
            text = f"📎 I couldn't download {attachment.filename}; send it again."
            return [Outbound(chat=message.chat, text=text, kind="error")]
        file = FilePart(attachment.mime, attachment.filename, data)
        await self.forward(binding, session_id, message.sender, forward, files=(file,))
        return []

    async def forward(
        self,
        binding: Binding,
        session_id: str,
        sender: Principal,
        text: str,
        files: tuple[FilePart, ...] = (),
    ) -> None:
        """Send an addressed message, preceded (noReply) by the group talk the builder missed."""
        context = self._context.pop(binding.chat_key, None)
        line = f"{author(sender)}: {text}"
        try:
            await self._prompt(binding, session_id, context, line, files)
        except NotFound:
            # OpenCode no longer has the session (it restarted without its data): the chats
            # are told, and the message goes to the session the builder has now
            self.sessions.gone(binding.builder)
            session_id = await self.sessions.session_for(binding.builder)
            assert session_id is not None
            await self._prompt(binding, session_id, context, line, files)
        record: dict[str, object] = {"text": line}
        if files:
            # the history keeps what was sent, not the bytes: those live in the session only
            record["files"] = [
                {"name": f.filename, "mime": f.mime, "bytes": len(f.data)} for f in files
            ]
        self.history.record(binding.builder, session_id, "relay.forwarded", record)

    async def _prompt(
        self,
        binding: Binding,
        session_id: str,
        context: deque[str] | None,
        line: str,
        files: tuple[FilePart, ...],
    ) -> None:
        if context:
            body = CONTEXT_HEADER + "\n" + "\n".join(context)
            await self.opencode.prompt_async(session_id, body, no_reply=True)
        # a prompt sent before the event stream is open would be answered unheard
        await self.stream_open()
        if self.before_turn is not None and not self.sessions.states.get(session_id, IDLE).busy:
            # a new turn: whoever watches turns looks before the builder can change anything
            await self.before_turn(binding.builder)
        # noted before the prompt is sent: the turn's first event may beat the HTTP answer
        self.audience.asked(session_id, binding)
        await self.opencode.prompt_async(session_id, line, files=files)


def author(sender: Principal) -> str:
    return sender.display_name or sender.user_id

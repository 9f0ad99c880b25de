"""The relay: bound chats ↔ builder OpenCode sessions, by rule, with no LLM in the path.

`Relay` assembles the rooms and routes into them: a chat message to a group command, a
button press or forwarding; OpenCode's event stream to event processing and delivery.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container, Iterable
from typing import Any

from assistant.messages import ChatRef, Inbound, Outbound
from assistant.relay._bindings import Binding, BoundChats
from assistant.relay._commands import GroupCommands
from assistant.relay._delivery import Delivery, Send
from assistant.relay._events import DoneNote, EventStream, TurnWatch, retry_limit_from_env
from assistant.relay._forwarding import Forwarder
from assistant.relay._journal import HistoryWriter
from assistant.relay._notice import Notification
from assistant.relay._sessions import Sessions
from assistant.relay._spend import BudgetRequest, Spending
from assistant.relay._status import Editable
from assistant.store import Store
from tools.opencode import Event, OpenCodeClient, OpenCodeError, Resync


class Relay:
    """Who hears what: a turn's notifications go to the chats whose messages the relay
    forwarded into that turn; anything no chat asked for here goes to every chat bound to the
    builder. Each chat gets a notification at most once."""

    def __init__(
        self,
        store: Store,
        opencode: OpenCodeClient,
        workspace: Any,
        principals: Container[str],
        retry_limit: int | None = None,
        *,
        projects: Callable[[], Iterable[Any]] | None = None,
        session_permission: list[dict[str, str]] | None = None,
        max_backoff: float = 10.0,
        status_every: float | None = None,
    ) -> None:
        self.store = store
        self.opencode = opencode
        self.bound = BoundChats(store, workspace, projects)
        self.sessions = Sessions(opencode, self.bound.directory, session_permission)
        self.history = HistoryWriter(store)
        self.delivery = Delivery(store, self.bound, self.history)
        self.spending = Spending(store, self.bound, opencode)
        self.events = EventStream(
            opencode,
            self.bound,
            self.sessions,
            self.delivery,
            self.history,
            retry_limit if retry_limit is not None else retry_limit_from_env(),
            max_backoff,
            spending=self.spending,
            status_every=status_every,
        )
        self.forwarder = Forwarder(
            opencode, self.sessions, self.delivery.audience, self.history, self.events.until_open
        )
        self.commands = GroupCommands(
            opencode, self.bound, self.sessions, self.history, principals, spending=self.spending
        )
        self.add_done_note(self.spending.done_note)

    def add_done_note(self, note: DoneNote) -> None:
        """Add a line to every builder "Done" (a diffstat, a cost), computed when it is sent."""
        self.events.done_notes.append(note)

    def add_turn_watch(self, watch: TurnWatch) -> None:
        """Be told when a builder's turn is about to start and when it started (e.g. to look
        at its worktrees first and tell at "Done" what the turn changed)."""
        self.events.turn_watches.append(watch)

        async def before_turn(builder: str) -> None:
            await self.events.tell_turn(builder, "prompting")

        self.forwarder.before_turn = before_turn

    @property
    def budget_requests(self) -> BudgetRequest | None:
        """How `/budget` raises its approval card (None: the relay runs without a desk)."""
        return self.commands.budget_requests

    @budget_requests.setter
    def budget_requests(self, request: BudgetRequest | None) -> None:
        self.commands.budget_requests = request

    @property
    def live_edits(self) -> Editable:
        """Whether a chat's platform edits a message in place silently and often, so a
        running turn's status can tick in its Started message (the gateway knows; by default
        no chat does)."""
        return self.events.status.editable

    @live_edits.setter
    def live_edits(self, editable: Editable) -> None:
        self.events.status.editable = editable

    @property
    def session_permission(self) -> list[dict[str, str]] | None:
        """The permission rules of the sessions the relay creates (None: OpenCode's own)."""
        return self.sessions.permission

    @session_permission.setter
    def session_permission(self, rules: list[dict[str, str]] | None) -> None:
        self.sessions.permission = rules

    @property
    def malformed_events(self) -> int:
        """OpenCode events skipped because of their shape since the relay started."""
        return self.events.malformed

    @property
    def listening(self) -> asyncio.Event:
        """Set while `run` has OpenCode's event stream open."""
        return self.events.listening

    def bindings(self) -> list[Binding]:
        return self.bound.all()

    def binding_for(self, chat: ChatRef) -> Binding | None:
        return self.bound.for_chat(chat)

    def directory(self, builder: str) -> str:
        return self.bound.directory(builder)

    def chat_moved(self, platform: str, old_chat_id: str, new_chat_id: str) -> None:
        """A bound chat got a new id (a Telegram group became a supergroup)."""
        self.bound.move(platform, old_chat_id, new_chat_id)

    async def session_for(self, builder: str, create: bool = True) -> str | None:
        return await self.sessions.session_for(builder, create)

    def current_session(self, builder: str) -> str | None:
        """The session the builder's chats talk to now, once the relay has looked it up."""
        return self.sessions.current(builder)

    async def handle(self, message: Inbound) -> list[Outbound]:
        """A message or button press in a chat; returns the immediate replies (maybe none)."""
        text = (message.text or "").strip()
        if text.startswith("/bind"):
            return self.commands.bind(message, text)
        binding = self.bound.for_chat(message.chat)
        if binding is None:
            return []
        try:
            if message.callback_data:
                return await self.commands.press(binding, message)
            found = self.commands.find(text)
            if found is not None:
                command, argument = found
                return await command(binding, message, argument)
            held = self.spending.held(binding.builder)
            if held is not None:  # over its budget: nothing reaches the builder
                return [Outbound(chat=message.chat, text=held, kind="error")]
            return await self.forwarder.handle(binding, message, text)
        except OpenCodeError as exc:
            return [Outbound(chat=message.chat, text=f"❌ OpenCode: {exc.message}", kind="error")]

    async def run(self, send: Send) -> None:
        """Consume OpenCode events forever and send the notifications they call for."""
        await self.events.run(send)

    async def process(self, event: Event | Resync, send: Send) -> list[Notification]:
        """One event (or reconnect snapshot): update state, deliver notifications."""
        return await self.events.process(event, send)

    async def deliver(self, builder: str, notification: Notification, send: Send) -> bool:
        """Send a notification to its chats, once per chat; True when every one got it now."""
        return await self.delivery.deliver(builder, notification, send)

    async def flush_history(self) -> None:
        """Wait until every queued history row is stored."""
        await self.history.flush()

"""The relay: bound chats ↔ builder OpenCode sessions, by rule, with no LLM in the path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Container, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.relay._bindings import (
    Binding,
    bindings_from_projects,
    builder_directory,
    is_safe_builder,
    save_binding,
    stored_bindings,
)
from assistant.relay._classify import (
    IDLE,
    Notification,
    SessionState,
    classify,
    first_line,
    permission_notification,
    question_notification,
)
from assistant.relay._format import render, render_text
from assistant.relay._journal import (
    ANY_CHAT,
    HistoryRow,
    append_history_rows,
    delivery_states,
    exchanges,
    mark_reported,
    record_delivery,
    unreported_failures,
)
from assistant.store import Store
from tools.opencode import Event, OpenCodeClient, OpenCodeError, Permission, Question, Resync

log = logging.getLogger(__name__)

Send = Callable[[Outbound], Awaitable[str | None]]
DEFAULT_RETRY_LIMIT = 5
CONTEXT_LIMIT = 20  # unaddressed group messages kept per chat for the next addressed one
CONTEXT_HEADER = "Messages in the group chat since you were last addressed (context only):"
LISTEN_WAIT = 15.0  # seconds a prompt waits for the relay's event stream to open
MISSED_LISTED = 10  # undelivered notifications named one by one in the catch-up notice


def retry_limit_from_env() -> int:
    value = os.environ.get("FOREMAN_RETRY_LIMIT", "")
    try:
        return int(value) if value else DEFAULT_RETRY_LIMIT
    except ValueError as exc:
        raise ValueError(f"FOREMAN_RETRY_LIMIT must be a whole number, got {value!r}") from exc


class _BuilderDirectories:
    """The bound builders' directories, re-read at every reconnect (bindings may change)."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({self.relay.directory(b.builder) for b in self.relay.bindings()}))


class Relay:
    """Who hears what: a turn's notifications go to the chats whose messages the relay
    forwarded into that turn; anything no chat asked for here (a turn started from OpenCode's
    own UI or another client, a request re-announced after a restart) goes to every chat
    bound to the builder. Each chat gets a notification at most once."""

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
    ) -> None:
        self.store = store
        self.opencode = opencode
        # a tools.workspace.Workspace (its `.root`) or a plain path
        self.root = Path(workspace) if isinstance(workspace, str | Path) else Path(workspace.root)
        self.workspace = workspace
        # read at every check, not copied: a user paired while the relay runs counts at once
        self.principals = principals
        self.retry_limit = retry_limit if retry_limit is not None else retry_limit_from_env()
        self._projects = projects
        self.session_permission = session_permission
        self.states: dict[str, SessionState] = {}
        self._current: dict[str, str] = {}  # builder -> its session id
        self._context: dict[str, deque[str]] = {}  # chat key -> unaddressed messages
        self._permissions: dict[str, Permission] = {}  # session id -> pending permission
        self._questions: dict[str, Question] = {}  # session id -> pending question
        # session id -> the chats that addressed its current (or last) turn, by chat key
        self._askers: dict[str, dict[str, ChatRef]] = {}
        self._turn_over: set[str] = set()  # sessions idle since their askers' turn ended
        self._bindings_cache: tuple[float, list[Binding]] | None = None
        self._history_rows: list[HistoryRow] = []
        self._history_writer: asyncio.Task[None] | None = None
        self.max_backoff = max_backoff  # the longest wait between reconnects to OpenCode
        self.listening = asyncio.Event()  # set once `run` has the event stream open
        self._running = False

    # -- bindings ---------------------------------------------------------------------------

    def _declared_projects(self) -> Iterable[Any]:
        if self._projects is not None:
            return self._projects()
        from tools.projectlist import ProjectListError, load
        from tools.workspace import WorkspaceNotFound, find_workspace

        try:
            path = getattr(self.workspace, "projectlist_path", None)
            if path is None:
                path = find_workspace(workspace=self.root).projectlist_path
            # not strict: one bad entry must not unbind every other project's chat
            return load(path, strict=False).projects
        except (WorkspaceNotFound, ProjectListError) as exc:
            log.info("no project-list bindings (%s); using /bind ones only", exc)
            return ()

    def bindings(self) -> list[Binding]:
        """Project-list bindings, then `/bind` ones (which win for the same chat).

        Re-read at most once a second: a project-list edit or a /bind elsewhere shows up
        within a second, and a chat message does not pay for a file parse.
        """
        now = time.monotonic()
        if self._bindings_cache is not None and now - self._bindings_cache[0] < 1.0:
            return self._bindings_cache[1]
        by_chat: dict[str, Binding] = {}
        for binding in bindings_from_projects(self._declared_projects(), self.root):
            by_chat[binding.chat_key] = binding
        for binding in stored_bindings(self.store):
            by_chat[binding.chat_key] = binding
        found = []
        for binding in by_chat.values():
            if is_safe_builder(binding.builder):
                found.append(binding)
            else:  # a hand-edited store or project list must not point the relay outside
                log.warning(
                    "ignoring %s: unsafe builder name %r", binding.chat_key, binding.builder
                )
        self._bindings_cache = (now, found)
        return found

    def binding_for(self, chat: ChatRef) -> Binding | None:
        for binding in self.bindings():
            if (
                binding.platform == chat.platform
                and binding.chat_id == chat.chat_id
                and (binding.thread_id or None) == (chat.thread_id or None)
            ):
                return binding
        return None

    def directory(self, builder: str) -> str:
        return str(builder_directory(self.root, builder))

    def _builder_of_directory(self, directory: str | None) -> str | None:
        if directory is None:
            return None
        for binding in self.bindings():
            if self.directory(binding.builder) == directory:
                return binding.builder
        return None

    async def session_for(self, builder: str, create: bool = True) -> str | None:
        """The builder's session: the newest root session in its directory (made if none)."""
        if builder in self._current:
            return self._current[builder]
        directory = self.directory(builder)
        roots = [s for s in await self.opencode.list_sessions(directory) if s.parent_id is None]
        if roots:
            self._current[builder] = roots[0].id
        elif create:
            session = await self.opencode.create_session(
                directory, title=builder, permission=self.session_permission
            )
            self._current[builder] = session.id
        return self._current.get(builder)

    # -- chat → builder ---------------------------------------------------------------------

    async def handle(self, message: Inbound) -> list[Outbound]:
        """A message or button press in a chat; returns the immediate replies (maybe none)."""
        chat = message.chat
        text = (message.text or "").strip()
        if text.startswith("/bind"):
            return self._bind(message, text)
        binding = self.binding_for(chat)
        if binding is None:
            return []
        try:
            if message.callback_data:
                return await self._callback(binding, message)
            if text.startswith("/"):
                command, _, argument = text[1:].partition(" ")
                handler = self._commands().get(command.split("@")[0].lower())
                if handler is not None:
                    return await handler(binding, message, argument.strip())
            session_id = await self.session_for(binding.builder)
            assert session_id is not None
            question = self._questions.get(session_id)
            if question is not None:
                answer = match_answer(question, text)
                if answer is not None:
                    await self.opencode.reply_question(question.id, [[answer]])
                    self._questions.pop(session_id, None)
                    return [self._reply(chat, f"Answered: {answer}")]
            forward = binding.addressed(text)
            if forward is None:
                buffer = self._context.setdefault(binding.chat_key, deque(maxlen=CONTEXT_LIMIT))
                buffer.append(f"{author(message.sender)}: {text}")
                return []
            await self.forward(binding, session_id, message.sender, forward)
            return []
        except OpenCodeError as exc:
            return [self._reply(chat, f"❌ OpenCode: {exc.message}", kind="error")]

    async def forward(
        self, binding: Binding, session_id: str, sender: Principal, text: str
    ) -> None:
        """Send an addressed message, preceded (noReply) by the group talk the builder missed."""
        context = self._context.pop(binding.chat_key, None)
        if context:
            body = CONTEXT_HEADER + "\n" + "\n".join(context)
            await self.opencode.prompt_async(session_id, body, no_reply=True)
        line = f"{author(sender)}: {text}"
        if self._running and not self.listening.is_set():
            # a prompt sent before the event stream is open would be answered unheard
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LISTEN_WAIT):
                    await self.listening.wait()
        # noted before the prompt is sent: the turn's first event may beat the HTTP answer
        if session_id in self._turn_over:
            self._turn_over.discard(session_id)
            self._askers.pop(session_id, None)
        self._askers.setdefault(session_id, {})[binding.chat_key] = binding.chat()
        await self.opencode.prompt_async(session_id, line)
        self._record(binding.builder, session_id, "relay.forwarded", {"text": line})

    def _reply(self, chat: ChatRef, text: str, kind: str = "text") -> Outbound:
        return Outbound(chat=chat, text=text, kind=kind)

    def _is_principal(self, sender: Principal) -> bool:
        return sender.key in self.principals

    def _bind(self, message: Inbound, text: str) -> list[Outbound]:
        chat = message.chat
        parts = text.split()
        if not self._is_principal(message.sender):
            return [self._reply(chat, "Only the principal can bind this chat to a builder.")]
        if len(parts) < 2 or "/" in parts[1] or parts[1] in (".", ".."):
            return [self._reply(chat, "Usage: /bind BUILDER [mention|prefix|all_messages]")]
        trigger = parts[2] if len(parts) > 2 else "all_messages"
        if trigger not in ("all_messages", "mention", "prefix"):
            return [
                self._reply(chat, f"Unknown trigger {trigger!r}: all_messages, mention, prefix")
            ]
        binding = Binding(
            platform=chat.platform,
            chat_id=chat.chat_id,
            thread_id=chat.thread_id,
            builder=parts[1],
            trigger=trigger,  # type: ignore[arg-type]
        )
        if not Path(self.directory(binding.builder)).is_dir():
            return [self._reply(chat, f"No builder {binding.builder!r} under .builders/.")]
        save_binding(self.store, binding, created_by=message.sender.key)
        self._bindings_cache = None
        self._current.pop(binding.builder, None)
        return [self._reply(chat, f"🔗 This chat now talks to builder {binding.builder}.")]

    # -- event history ----------------------------------------------------------------------

    def _record(self, builder: str, session_id: str, type_: str, payload: dict[str, Any]) -> None:
        """Queue a history row; a background writer stores queued rows in batches, off the
        event loop, so neither a chat message nor an event waits for a disk sync."""
        self._history_rows.append((builder, session_id, type_, payload))
        if self._history_writer is None or self._history_writer.done():
            self._history_writer = asyncio.get_running_loop().create_task(self._write_history())

    async def _write_history(self) -> None:
        while self._history_rows:
            batch, self._history_rows = self._history_rows, []
            await asyncio.to_thread(append_history_rows, self.store, batch)

    async def flush_history(self) -> None:
        """Wait until every queued history row is stored."""
        while self._history_rows or (self._history_writer and not self._history_writer.done()):
            if self._history_writer is None or self._history_writer.done():
                self._history_writer = asyncio.get_running_loop().create_task(self._write_history())
            await asyncio.shield(self._history_writer)

    # -- group commands ---------------------------------------------------------------------

    def _commands(
        self,
    ) -> dict[str, Callable[[Binding, Inbound, str], Awaitable[list[Outbound]]]]:
        return {
            "stop": self._stop,
            "status": self._status,
            "allow": self._allow,
            "deny": self._deny,
            "new": self._new,
            "compact": self._compact,
            "fork": self._fork,
            "history": self._history,
        }

    async def _stop(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session_id = await self.session_for(binding.builder, create=False)
        if session_id is None:
            return [self._reply(message.chat, "No session to stop.")]
        await self.opencode.abort(session_id)
        return [self._reply(message.chat, "⏹ Stopped.")]

    async def _status(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session_id = await self.session_for(binding.builder, create=False)
        if session_id is None:
            return [self._reply(message.chat, f"{binding.builder}: no session yet.")]
        statuses = await self.opencode.session_status(self.directory(binding.builder))
        status = statuses.get(session_id)
        line = f"{binding.builder} ({session_id}): {status.type if status else 'idle'}"
        if status and status.type == "retry":
            line += f", attempt {status.attempt}: {status.message}"
        lines = [line]
        if session_id in self._permissions:
            lines.append("🔒 " + permission_notification(self._permissions[session_id]).text)
        if session_id in self._questions:
            lines.append("❓ " + question_notification(self._questions[session_id]).text)
        todos = self.states.get(session_id, IDLE).todos
        if not todos:
            todos = tuple(
                (str(t.get("status", "")), str(t.get("content", "")))
                for t in await self.opencode.todos(session_id)
            )
        marks = {"completed": "☑", "in_progress": "▶", "pending": "☐", "cancelled": "✗"}
        lines += [f"{marks.get(status, '☐')} {content}" for status, content in todos]
        return [self._reply(message.chat, "\n".join(lines))]

    async def _answer_permission(
        self, binding: Binding, message: Inbound, reply: str, reason: str | None
    ) -> list[Outbound]:
        if not self._is_principal(message.sender):
            return [self._reply(message.chat, "Only the principal can answer approval requests.")]
        session_id = await self.session_for(binding.builder, create=False)
        permission = self._permissions.get(session_id or "")
        if permission is None:
            pending = await self.opencode.permissions(self.directory(binding.builder))
            permission = next((p for p in pending if p.session_id == session_id), None)
        if permission is None:
            return [self._reply(message.chat, "Nothing is waiting for approval.")]
        await self.opencode.reply_permission(permission.id, reply, reason)  # type: ignore[arg-type]
        self._permissions.pop(permission.session_id, None)
        said = {"once": "Allowed once", "always": "Always allowed", "reject": "Denied"}[reply]
        what = permission.command or permission.permission
        return [self._reply(message.chat, f"{said}: {what}" + (f" ({reason})" if reason else ""))]

    async def _allow(self, binding: Binding, message: Inbound, argument: str) -> list[Outbound]:
        reply = "always" if argument.lower() == "always" else "once"
        return await self._answer_permission(binding, message, reply, None)

    async def _deny(self, binding: Binding, message: Inbound, argument: str) -> list[Outbound]:
        return await self._answer_permission(binding, message, "reject", argument or None)

    async def _new(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session = await self.opencode.create_session(
            self.directory(binding.builder),
            title=binding.builder,
            permission=self.session_permission,
        )
        self._current[binding.builder] = session.id
        return [self._reply(message.chat, f"🆕 New session {session.id} for {binding.builder}.")]

    async def _compact(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session_id = await self.session_for(binding.builder, create=False)
        if session_id is None:
            return [self._reply(message.chat, "No session to compact.")]
        model = None
        for entry in reversed(await self.opencode.messages(session_id, limit=10)):
            info = entry.get("info") or {}
            if info.get("providerID") and info.get("modelID"):
                model = (info["providerID"], info["modelID"])
                break
        if model is None:
            return [self._reply(message.chat, "Nothing to compact yet.")]
        await self.opencode.summarize(session_id, *model)
        return [self._reply(message.chat, "🗜 Compacted.")]

    async def _fork(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session_id = await self.session_for(binding.builder, create=False)
        if session_id is None:
            return [self._reply(message.chat, "No session to fork.")]
        fork = await self.opencode.fork(session_id)
        self._current[binding.builder] = fork.id
        return [
            self._reply(message.chat, f"🍴 Forked {session_id} into {fork.id}; now on the fork.")
        ]

    async def _history(self, binding: Binding, message: Inbound, argument: str) -> list[Outbound]:
        try:
            last = int(argument) if argument else 5
        except ValueError:
            return [self._reply(message.chat, "Usage: /history [N]")]
        await self.flush_history()
        found = exchanges(self.store, binding.builder, last=max(1, last))
        if not found:
            return [self._reply(message.chat, f"No history for {binding.builder} yet.")]
        return [self._reply(message.chat, format_exchanges(found))]

    async def _callback(self, binding: Binding, message: Inbound) -> list[Outbound]:
        data = message.callback_data or ""
        kind, _, rest = data.partition(":")
        object_id, _, choice = rest.rpartition(":")
        if kind == "perm" and choice in ("once", "always", "reject"):
            session_id = await self.session_for(binding.builder, create=False)
            known = self._permissions.get(session_id or "")
            if known is None or known.id != object_id:
                return [self._reply(message.chat, "That approval request is no longer pending.")]
            return await self._answer_permission(binding, message, choice, None)
        if kind == "q" and choice.isdigit():
            session_id = await self.session_for(binding.builder, create=False)
            question = self._questions.get(session_id or "")
            if question is None or question.id != object_id:
                return [self._reply(message.chat, "That question is no longer pending.")]
            answer = match_answer(question, choice)
            if answer is None:
                return [self._reply(message.chat, "No such option.")]
            await self.opencode.reply_question(question.id, [[answer]])
            self._questions.pop(question.session_id, None)
            return [self._reply(message.chat, f"Answered: {answer}")]
        return [self._reply(message.chat, f"Unknown button {data!r}.")]

    # -- builder → chat ---------------------------------------------------------------------

    async def run(self, send: Send) -> None:
        """Consume OpenCode events forever and send the notifications they call for."""
        self._running = True
        events = self.opencode.events(
            resync_directories=_BuilderDirectories(self), max_backoff=self.max_backoff
        )
        try:
            async for event in events:
                try:
                    await self.process(event, send)
                except OpenCodeError as exc:
                    # a failed call must not stop the relay; the next resync repairs the state
                    log.warning("relay: %s while handling %s", exc, getattr(event, "type", event))
        finally:
            self._running = False
            self.listening.clear()
            await self.flush_history()

    async def process(self, event: Event | Resync, send: Send) -> list[Notification]:
        """One event (or reconnect snapshot): update state, deliver notifications."""
        if isinstance(event, Resync):
            sent = await self._resync(event, send)
            self.listening.set()
            return sent
        builder = self._builder_of_directory(event.directory)
        session_id = event.session_id
        if builder is None or session_id is None:
            return []
        if event.type == "session.created":
            info = event.properties.get("info") or {}
            if info.get("parentID") is None:
                self._current[builder] = session_id  # a newer root session takes over
        if session_id != await self.session_for(builder, create=False):
            return []
        self._record(builder, session_id, event.type, {"id": event.id, **event.properties})
        self._track_pending(event)
        before = self.states.get(session_id, IDLE)
        state, notification = classify(before, event, retry_limit=self.retry_limit)
        self.states[session_id] = state
        if state.busy and not before.busy and session_id in self._turn_over:
            # no chat here asked for this turn since the last one ended: every chat hears it
            self._turn_over.discard(session_id)
            self._askers.pop(session_id, None)
        if before.busy and not state.busy:
            # kept, not cleared: an error OpenCode reports after idle still goes to the askers
            self._turn_over.add(session_id)
        if notification is None:
            return []
        await self._deliver(builder, notification, send)
        return [notification]

    def _track_pending(self, event: Event) -> None:
        props = event.properties
        sid = event.session_id or ""
        if event.type == "permission.asked":
            self._permissions[sid] = Permission.from_json(props)
        elif event.type == "permission.replied":
            self._permissions.pop(sid, None)
        elif event.type == "question.asked":
            self._questions[sid] = Question.from_json(props)
        elif event.type in ("question.replied", "question.rejected"):
            self._questions.pop(sid, None)

    async def _resync(self, resync: Resync, send: Send) -> list[Notification]:
        sent: list[Notification] = []
        for binding in self.bindings():
            builder = binding.builder
            session_id = await self.session_for(builder, create=False)
            if session_id is None:
                continue
            state = self.states.get(session_id, IDLE)
            status = resync.statuses.get(session_id)
            if status is not None and not state.busy:
                self.states[session_id] = replace(state, status=status.type)
            elif status is None and state.busy:
                notification = await self._ended_while_away(session_id)
                self.states[session_id] = replace(state, status="idle")
                self._turn_over.add(session_id)
                if await self._deliver(builder, notification, send):
                    sent.append(notification)
            self._permissions.pop(session_id, None)
            self._questions.pop(session_id, None)
            for permission in resync.permissions:
                if permission.session_id == session_id:
                    self._permissions[session_id] = permission
                    notification = permission_notification(permission)
                    if await self._deliver(builder, notification, send):
                        sent.append(notification)
            for question in resync.questions:
                if question.session_id == session_id:
                    self._questions[session_id] = question
                    notification = question_notification(question)
                    if await self._deliver(builder, notification, send):
                        sent.append(notification)
        return sent

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

    def audience(self, builder: str, session_id: str) -> list[ChatRef]:
        """The chats a notification about this session goes to (see the class docstring)."""
        bound = {b.chat_key: b.chat() for b in self.bindings() if b.builder == builder}
        askers = [chat for key, chat in self._askers.get(session_id, {}).items() if key in bound]
        return askers or list(bound.values())

    async def _deliver(self, builder: str, notification: Notification, send: Send) -> bool:
        """Send to the notification's chats, once per chat; True when every one got it.

        A chat that could not be reached is recorded, and told what it missed the next time
        a notification reaches it."""
        if notification.abort:
            try:
                await self.opencode.abort(notification.session_id)
            except OpenCodeError as exc:
                log.warning("abort after retry limit failed: %s", exc)
        states = delivery_states(self.store, notification.key)
        if states.get(ANY_CHAT) == "sent":
            return False
        text = render_text(notification, buttons=False)
        sent: list[ChatRef] = []
        errors: list[str] = []
        for chat in self.audience(builder, notification.session_id):
            if states.get(chat.key) == "sent":
                continue
            try:
                for outbound in render(notification, chat):
                    await send(outbound)
            except Exception as exc:  # any channel failure is reported, never lost
                errors.append(f"{chat.key}: {exc!r}")
                record_delivery(self.store, notification, chat.key, "failed", repr(exc), text)
                continue
            record_delivery(self.store, notification, chat.key, "sent")
            sent.append(chat)
            await self._report_missed(chat, send)
        if errors:
            log.warning("notification %s not delivered: %s", notification.key, "; ".join(errors))
        if not states and (sent or errors):  # once in the history, however often it is retried
            payload = {"kind": notification.kind, "text": text}
            self._record(builder, notification.session_id, "relay.notification", payload)
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
            for outbound in render(notice, chat):
                await send(outbound)
        except Exception as exc:  # still unreported: the next delivery tries again
            log.warning("could not tell %s about missed notifications: %r", chat.key, exc)
            return
        mark_reported(self.store, chat.key, [m["notification_key"] for m in missed])


def author(sender: Principal) -> str:
    return sender.display_name or sender.user_id


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


def format_exchanges(found: Iterable[Any]) -> str:
    lines: list[str] = []
    for exchange in found:
        lines.append(f"» {exchange.prompt}" if exchange.prompt else "» (no message)")
        lines += ["  " + reply.replace("\n", "\n  ") for reply in exchange.replies]
    return "\n".join(lines)

"""The group commands of a bound chat (/bind, /stop, /status, /diff, /allow, /deny, /new,
/compact, /fork, /history, /usage, /budget) and its buttons (a permission's or a question's
choices)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Container
from pathlib import Path

from assistant.diff_files import patch_file
from assistant.messages import ButtonData, ChatRef, Inbound, Outbound, Principal
from assistant.relay._bindings import DEFAULT_PATTERNS, Binding, BoundChats
from assistant.relay._classify import IDLE, permission_notification, question_notification
from assistant.relay._journal import HistoryWriter, exchanges, format_exchanges
from assistant.relay._sessions import Sessions, match_answer
from assistant.relay._spend import BudgetRequest, Spending
from assistant.spend import BudgetError, parse_budget
from tools.opencode import OpenCodeClient
from tools.orchestrator import OrchestratorError, builder_diff

Command = Callable[[Binding, Inbound, str], Awaitable[list[Outbound]]]
TODO_MARKS = {"completed": "☑", "in_progress": "▶", "pending": "☐", "cancelled": "✗"}


def reply(chat: ChatRef, text: str, kind: str = "text") -> Outbound:
    return Outbound(chat=chat, text=text, kind=kind)


class GroupCommands:
    """What a slash command or a button press in a bound chat does; answers what to say."""

    def __init__(
        self,
        opencode: OpenCodeClient,
        bound: BoundChats,
        sessions: Sessions,
        history: HistoryWriter,
        principals: Container[str],
        *,
        spending: Spending | None = None,
    ) -> None:
        self.opencode = opencode
        self.bound = bound
        self.sessions = sessions
        self.history = history
        # read at every check, not copied: a user paired while the relay runs counts at once
        self.principals = principals
        self._commands: dict[str, Command] = {
            "stop": self._stop,
            "status": self._status,
            "diff": self._diff,
            "allow": self._allow,
            "deny": self._deny,
            "new": self._new,
            "compact": self._compact,
            "fork": self._fork,
            "history": self._history,
            "help": self._help,
        }
        self.spending = spending
        # how `/budget` raises its card; None while no approval desk runs beside the relay
        self.budget_requests: BudgetRequest | None = None
        if spending is not None:
            self._commands["usage"] = self._usage
            self._commands["budget"] = self._budget

    def _is_principal(self, sender: Principal) -> bool:
        return sender.key in self.principals

    def find(self, text: str) -> tuple[Command, str] | None:
        """The command a `/name argument` message names (`/name@bot` too), with its argument."""
        if not text.startswith("/"):
            return None
        name, _, argument = text[1:].partition(" ")
        command = self._commands.get(name.split("@")[0].lower())
        return (command, argument.strip()) if command is not None else None

    def bind(self, message: Inbound, text: str) -> list[Outbound]:
        """`/bind BUILDER [trigger]`: the principal ties this chat to a builder."""
        chat = message.chat
        parts = text.split()
        if not self._is_principal(message.sender):
            return [reply(chat, "Only the principal can bind this chat to a builder.")]
        if len(parts) < 2 or "/" in parts[1] or parts[1] in (".", ".."):
            return [reply(chat, "Usage: /bind BUILDER [mention|prefix|all_messages]")]
        trigger = parts[2] if len(parts) > 2 else "all_messages"
        if trigger not in ("all_messages", "mention", "prefix"):
            return [reply(chat, f"Unknown trigger {trigger!r}: all_messages, mention, prefix")]
        binding = Binding(
            platform=chat.platform,
            chat_id=chat.chat_id,
            thread_id=chat.thread_id,
            builder=parts[1],
            trigger=trigger,  # type: ignore[arg-type]
        )
        if not Path(self.bound.directory(binding.builder)).is_dir():
            return [reply(chat, f"No builder {binding.builder!r} under .builders/.")]
        self.bound.bind(binding, created_by=message.sender.key)
        self.sessions.forget(binding.builder)
        return [reply(chat, f"🔗 This chat now talks to builder {binding.builder}.")]

    async def press(self, binding: Binding, message: Inbound) -> list[Outbound]:
        """A button (or the numbered reply standing for one) answering a permission or question."""
        data = message.callback_data or ""
        button = ButtonData.parse(data) or ButtonData("", "")
        kind, object_id, choice = button.action, button.target, button.option or ""
        if kind == "perm" and choice in ("once", "always", "reject"):
            session_id = await self.sessions.session_for(binding.builder, create=False)
            known = self.sessions.permissions.get(session_id or "")
            if known is None or known.id != object_id:
                return [reply(message.chat, "That approval request is no longer pending.")]
            return await self._answer_permission(binding, message, choice, None)
        if kind == "q" and choice.isdigit():
            session_id = await self.sessions.session_for(binding.builder, create=False)
            question = self.sessions.questions.get(session_id or "")
            if question is None or question.id != object_id:
                return [reply(message.chat, "That question is no longer pending.")]
            answer = match_answer(question, choice)
            if answer is None:
                return [reply(message.chat, "No such option.")]
            await self.sessions.answer(question, answer)
            return [reply(message.chat, f"Answered: {answer}")]
        return [reply(message.chat, f"Unknown button {data!r}.")]

    async def _stop(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session_id = await self.sessions.session_for(binding.builder, create=False)
        if session_id is None:
            return [reply(message.chat, "No session to stop.")]
        await self.opencode.abort(session_id)
        return [reply(message.chat, "⏹ Stopped.")]

    async def _status(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session_id = await self.sessions.session_for(binding.builder, create=False)
        if session_id is None:
            return [reply(message.chat, f"{binding.builder}: no session yet.")]
        statuses = await self.opencode.session_status(self.bound.directory(binding.builder))
        status = statuses.get(session_id)
        line = f"{binding.builder} ({session_id}): {status.type if status else 'idle'}"
        if status and status.type == "retry":
            line += f", attempt {status.attempt}: {status.message}"
        lines = [line]
        permission = self.sessions.permissions.get(session_id)
        if permission is not None:
            lines.append("🔒 " + permission_notification(permission).text)
        question = self.sessions.questions.get(session_id)
        if question is not None:
            lines.append("❓ " + question_notification(question).text)
        todos = self.sessions.states.get(session_id, IDLE).todos
        if not todos:
            todos = tuple(
                (str(t.get("status", "")), str(t.get("content", "")))
                for t in await self.opencode.todos(session_id)
            )
        lines += [f"{TODO_MARKS.get(status, '☐')} {content}" for status, content in todos]
        return [reply(message.chat, "\n".join(lines))]

    async def _diff(self, binding: Binding, message: Inbound, argument: str) -> list[Outbound]:
        """`/diff [REPO]`: what the builder changed, read from its worktrees (git only)."""
        directory = Path(self.bound.directory(binding.builder))
        repo = argument or None
        try:
            found = await asyncio.to_thread(
                builder_diff, self.bound.root, directory, repo, patch=True
            )
        except OrchestratorError as exc:
            return [reply(message.chat, f"Cannot show the diff: {exc.reason}")]
        # the summary to read, the full patch as a `.diff` to open
        file, note = patch_file(found, repo)
        text = "\n".join(line for line in (found.render(), note) if line)
        return [Outbound(chat=message.chat, text=text, files=(file,) if file else ())]

    async def _answer_permission(
        self, binding: Binding, message: Inbound, answer: str, reason: str | None
    ) -> list[Outbound]:
        if not self._is_principal(message.sender):
            return [reply(message.chat, "Only the principal can answer approval requests.")]
        session_id = await self.sessions.session_for(binding.builder, create=False)
        permission = self.sessions.permissions.get(session_id or "")
        if permission is None:
            pending = await self.opencode.permissions(self.bound.directory(binding.builder))
            permission = next((p for p in pending if p.session_id == session_id), None)
        if permission is None:
            return [reply(message.chat, "Nothing is waiting for approval.")]
        await self.opencode.reply_permission(permission.id, answer, reason)  # type: ignore[arg-type]
        self.sessions.permissions.pop(permission.session_id, None)
        said = {"once": "Allowed once", "always": "Always allowed", "reject": "Denied"}[answer]
        what = permission.command or permission.permission
        return [reply(message.chat, f"{said}: {what}" + (f" ({reason})" if reason else ""))]

    async def _allow(self, binding: Binding, message: Inbound, argument: str) -> list[Outbound]:
        answer = "always" if argument.lower() == "always" else "once"
        return await self._answer_permission(binding, message, answer, None)

    async def _deny(self, binding: Binding, message: Inbound, argument: str) -> list[Outbound]:
        return await self._answer_permission(binding, message, "reject", argument or None)

    async def _new(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session = await self.sessions.start_new(binding.builder, told=binding.chat_key)
        return [reply(message.chat, f"🆕 New session {session.id} for {binding.builder}.")]

    async def _compact(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session_id = await self.sessions.session_for(binding.builder, create=False)
        if session_id is None:
            return [reply(message.chat, "No session to compact.")]
        model = None
        for entry in reversed(await self.opencode.messages(session_id, limit=10)):
            info = entry.get("info") or {}
            if info.get("providerID") and info.get("modelID"):
                model = (info["providerID"], info["modelID"])
                break
        if model is None:
            return [reply(message.chat, "Nothing to compact yet.")]
        # this chat hears it from the reply; the builder's other chats get the notice
        self.sessions.compacting[session_id] = binding.chat_key
        try:
            await self.opencode.summarize(session_id, *model)
        except BaseException:
            self.sessions.compacting.pop(session_id, None)
            raise
        return [reply(message.chat, "🗜 Compacted.")]

    async def _fork(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        session_id = await self.sessions.session_for(binding.builder, create=False)
        if session_id is None:
            return [reply(message.chat, "No session to fork.")]
        fork = await self.sessions.fork(binding.builder, session_id)
        return [reply(message.chat, f"🍴 Forked {session_id} into {fork.id}; now on the fork.")]

    async def _help(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        text = group_help(binding)
        if self.spending is not None:
            text += "\n" + SPENDING_HELP
        return [reply(message.chat, text)]

    async def _history(self, binding: Binding, message: Inbound, argument: str) -> list[Outbound]:
        try:
            last = int(argument) if argument else 5
        except ValueError:
            return [reply(message.chat, "Usage: /history [N]")]
        await self.history.flush()
        found = exchanges(self.bound.store, binding.builder, last=max(1, last))
        if not found:
            return [reply(message.chat, f"No history for {binding.builder} yet.")]
        return [reply(message.chat, format_exchanges(found))]

    async def _usage(self, binding: Binding, message: Inbound, _: str) -> list[Outbound]:
        """`/usage`: what this builder spent on its model (not the assistant's own tokens)."""
        assert self.spending is not None
        return [reply(message.chat, self.spending.report(binding.builder))]

    async def _budget(self, binding: Binding, message: Inbound, argument: str) -> list[Outbound]:
        """`/budget N|off`: an approval card for the principal to set or lift the budget."""
        usage = "Usage: /budget N (US dollars) or /budget off"
        if not argument:
            return [reply(message.chat, usage)]
        usd: float | None = None
        if argument.lower() not in ("off", "none"):
            try:
                usd = parse_budget(argument, "/budget")
            except BudgetError as exc:
                return [reply(message.chat, f"{exc}. {usage}", "error")]
        if not self._is_principal(message.sender):
            text = "Only the principal can change a builder's budget."
            return [reply(message.chat, text, "error")]
        if self.budget_requests is None:
            text = "Budget changes need the approval desk of `foreman serve`; none runs here."
            return [reply(message.chat, text, "error")]
        return await self.budget_requests(message.sender, message.chat, binding.builder, usd)


GROUP_HELP = """\
/status — what the builder is doing
/diff [REPO] — what it changed
/stop — stop its turn
/allow · /allow always · /deny [reason] — answer its approval request
/new · /compact · /fork — a new, compacted or forked session
/history [N] — the last exchanges
/bind BUILDER [trigger] — tie this chat to another builder"""
SPENDING_HELP = """\
/usage — what the builder spent, and its budget
/budget N|off — ask to raise or lift its budget"""


def group_help(binding: Binding) -> str:
    """The group commands, after how this chat's messages reach the builder."""
    how = trigger_line(binding.trigger, binding.patterns)
    return f"This chat talks to builder {binding.builder}. {how}\n{GROUP_HELP}"


def trigger_line(trigger: str, patterns: tuple[str, ...] = ()) -> str:
    """How a bound chat's messages reach the builder, in one line."""
    patterns = patterns or DEFAULT_PATTERNS.get(trigger, ())
    said = " or ".join(patterns)
    if trigger == "mention" and patterns:
        return f"Messages that mention {said} go to the builder; the rest is context."
    if trigger == "prefix" and patterns:
        return f"Messages starting with {said} go to the builder; the rest is context."
    return "Every message goes to the builder."

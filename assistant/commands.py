"""Slash commands: answered from the project list, the orchestrator and the store. No model."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from assistant.approvals import (
    ActionInvalid,
    ApprovalDesk,
    approver_chat,
    card_message,
    card_replies,
)
from assistant.builder_summary import builder_summary
from assistant.conversations import ConversationStore
from assistant.messages import Inbound, Outbound, Principal
from tools.orchestrator import BuilderStatus, Orchestrator, OrchestratorError, builders_by_project
from tools.projectlist import ProjectListError, ProjectNotFound, load_async
from tools.workspace import Workspace

HELP = """\
/projects [STATUS] — list projects
/project ID — one project and its builders
/builders — builders on disk
/status ID STATUS — propose a status change (asks for approval)
/approvals — approvals waiting for you
/approve ID · /reject ID — resolve one
/usage — the assistant's own model requests and tokens in this chat
  (a builder's cost: /usage in its group)
/help — this list
Anything else goes to the assistant."""


@dataclass(frozen=True)
class CommandContext:
    """What commands read and where the cards they raise are decided."""

    workspace: Workspace
    orchestrator: Orchestrator
    desk: ApprovalDesk
    conversations: ConversationStore


# The last argument decides the cards a command raises: the sender, or the human another agent
# (MCP, A2A) speaks for.
Handler = Callable[[CommandContext, Inbound, list[str], Principal], Awaitable[list[Outbound]]]


def _say(message: Inbound, text: str, kind: str = "text") -> list[Outbound]:
    return [Outbound(chat=message.chat, text=text, kind=kind)]


async def _projects(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    try:
        plist = await load_async(ctx.workspace.projectlist_path)  # parsed off the event loop
    except ProjectListError as exc:
        return _say(message, f"Cannot read the project list: {exc}", "error")
    wanted = args[0] if args else None
    builders = builders_by_project(ctx.workspace.root, [p.id for p in plist.projects])
    lines = []
    for project in plist.with_status(args[:1]):
        line = f"{project.id} · {project.status} · {project.title}"
        if project.id in builders:
            line += f" · 🔨 {', '.join(builders[project.id])}"
        lines.append(line)
    if not lines:
        return _say(message, f"No projects{f' with status {wanted}' if wanted else ''}.")
    return _say(message, "\n".join(lines))


async def _project(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    if len(args) != 1:
        return _say(message, "Usage: /project ID", "error")
    try:
        project = (await load_async(ctx.workspace.projectlist_path)).find(args[0])
    except ProjectNotFound:
        return _say(message, f"No project {args[0]}.", "error")
    except ProjectListError as exc:
        return _say(message, f"Cannot read the project list: {exc}", "error")
    lines = [f"{project.id} · {project.title}", f"status: {project.status}"]
    if project.repos:
        lines.append(f"repos: {', '.join(project.repos)}")
    if project.tags:
        lines.append(f"tags: {', '.join(project.tags)}")
    if project.chat_binding:
        binding = project.chat_binding
        lines.append(f"chat: {binding.platform} {binding.group_name or binding.channel_id or ''}")
    if project.notes:
        lines.append(f"notes: {project.notes.strip()}")
    for status in await ctx.orchestrator.list_builders():
        if status.project_id == project.id:
            lines.append(f"builder: {_builder_line(status)}")
    return _say(message, "\n".join(lines))


def _builder_line(status: BuilderStatus) -> str:
    summary = builder_summary(status)
    state = "clean" if summary["clean"] else "unsaved: " + "; ".join(summary["unsaved"])
    session = f", session {summary['session']}" if "session" in summary else ""
    return f"{status.name} ({state}{session})"


async def _builders(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    try:
        statuses = await ctx.orchestrator.list_builders()
    except OrchestratorError as exc:
        return _say(message, f"Cannot list builders: {exc}", "error")
    if not statuses:
        return _say(message, "No builders.")
    return _say(message, "\n".join(_builder_line(s) for s in statuses))


async def _status(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    if len(args) < 2:
        return _say(message, "Usage: /status ID STATUS [reason]", "error")
    project_id, status, *reason = args
    try:
        approval = await ctx.desk.request(
            approver,
            message.chat,
            "set_project_status",
            {"id": project_id, "status": status, "reason": " ".join(reason) or "via /status"},
            message.message_id,
            approver_chat=approver_chat(message, approver),
        )
    except ActionInvalid as exc:
        return _say(message, f"Cannot propose that: {exc}", "error")
    return card_replies(approval, message.chat)


async def _approvals(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    pending = ctx.desk.book.pending(principal=message.sender.key)
    if not pending:
        return _say(message, "No approvals waiting.")
    # Shown in the chat that asked: a card raised elsewhere is still this person's to decide.
    return [replace(card_message(a), chat=message.chat) for a in pending]


async def _approve(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    if len(args) != 1:
        return _say(message, "Usage: /approve ID", "error")
    decision = await ctx.desk.decide(
        args[0], message.sender, True, message.message_id, message.chat
    )
    return decision.replies


async def _reject(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    if len(args) != 1:
        return _say(message, "Usage: /reject ID", "error")
    decision = await ctx.desk.decide(
        args[0], message.sender, False, message.message_id, message.chat
    )
    return decision.replies


async def _usage(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    usage = ctx.conversations.usage(message.chat.key)
    return _say(
        message,
        f"This chat: {usage.requests} model requests, {usage.input_tokens} input tokens, "
        f"{usage.output_tokens} output tokens.",
    )


async def _help(
    ctx: CommandContext, message: Inbound, args: list[str], approver: Principal
) -> list[Outbound]:
    return _say(message, HELP)


COMMANDS: dict[str, Handler] = {
    "projects": _projects,
    "project": _project,
    "builders": _builders,
    "status": _status,
    "approvals": _approvals,
    "approve": _approve,
    "reject": _reject,
    "usage": _usage,
    "help": _help,
    "start": _help,
}


async def run_command(
    ctx: CommandContext, message: Inbound, text: str, approver: Principal | None = None
) -> list[Outbound]:
    try:
        words = shlex.split(text[1:])
    except ValueError as exc:
        return _say(message, f"Cannot read that command: {exc}", "error")
    if not words:
        return _say(message, HELP)
    # Telegram appends the bot's name in groups: /projects@foreman_bot
    name = words[0].split("@", 1)[0].lower()
    handler = COMMANDS.get(name)
    if handler is None:
        return _say(message, f"Unknown command /{name}.\n{HELP}", "error")
    return await handler(ctx, message, words[1:], approver or message.sender)

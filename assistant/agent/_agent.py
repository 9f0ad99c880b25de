"""The assistant: a pydantic-ai agent whose every mutation waits for the human's approval."""

from __future__ import annotations

import json
from typing import Any

import pydantic_ai
from pydantic_ai import Agent, DeferredToolRequests, RunContext

import prompts
from assistant.agent._deps import AssistantDeps
from assistant.builder_summary import builder_summary
from assistant.diff_files import patch_file
from tools.orchestrator import OrchestratorError, builders_by_project
from tools.projectlist import ProjectListError

# pydantic-ai's first-run banner (a Logfire advert) would land in the middle of `foreman chat`.
pydantic_ai.BANNER_ENABLED = False

agent: Agent[AssistantDeps, str | DeferredToolRequests] = Agent(
    deps_type=AssistantDeps,
    output_type=[str, DeferredToolRequests],
    instructions=prompts.load("assistant"),
    name="foreman",
)


# Bounds on what one tool result adds to every later request of the chat (≈ 4 chars a token).
DEFAULT_LIMIT = 30
MAX_LIMIT = 100
MAX_RESULT_CHARS = 3000


def _compact(data: Any) -> str:
    return _bounded(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str))


def _bounded(text: str) -> str:
    if len(text) <= MAX_RESULT_CHARS:
        return text
    cut = len(text) - MAX_RESULT_CHARS
    return f"{text[:MAX_RESULT_CHARS]}… ({cut} more characters cut; ask about one item)"


def _page(lines: list[str], total: int, limit: int, noun: str, narrow: str) -> str:
    """At most `limit` lines, then how many more there are and how to narrow the list."""
    limit = max(1, min(limit, MAX_LIMIT))
    shown = lines[:limit]
    if len(lines) > limit:
        shown.append(f"… {len(lines) - limit} more of {total} {noun}; narrow with {narrow}")
    return _bounded("\n".join(shown))


def _matches(query: str | None, *fields: str) -> bool:
    return not query or any(query.lower() in field.lower() for field in fields)


@agent.tool
async def list_projects(
    ctx: RunContext[AssistantDeps],
    status: str | None = None,
    query: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> str:
    """List projects (id, status, title, builders): filter by status and/or a text query
    (matched in id and title); at most `limit` (max 100), then how many more."""
    try:
        plist = ctx.deps.projectlist()
    except ProjectListError as exc:
        return f"error: {exc}"
    chosen = [
        p for p in plist.with_status([status] if status else []) if _matches(query, p.id, p.title)
    ]
    builders = builders_by_project(ctx.deps.workspace.root, [p.id for p in chosen])
    lines = []
    for project in chosen:
        line = f"{project.id} {project.status} {project.title}"
        if project.id in builders:
            line += f" [builders: {', '.join(builders[project.id])}]"
        lines.append(line)
    if not lines:
        return "no projects"
    narrow = "status=, query= or a higher limit"
    return _page(lines, len(plist.projects), limit, "projects", narrow)


@agent.tool
async def get_project(ctx: RunContext[AssistantDeps], id: str) -> str:
    """One project's fields and its builders on disk (with OpenCode session status if known)."""
    try:
        project = ctx.deps.projectlist().find(id)
    except ProjectListError as exc:
        return _bounded(f"error: {exc}")
    data: dict[str, Any] = {"id": project.id, "title": project.title, "status": project.status}
    for key in ("repos", "tags", "notes"):
        if getattr(project, key):
            data[key] = getattr(project, key)
    if project.chat_binding:
        binding = project.chat_binding
        data["chat"] = f"{binding.platform}:{binding.group_name or binding.channel_id}"
    statuses = [
        s for s in await ctx.deps.orchestrator.list_builders() if s.project_id == project.id
    ]
    data["builders"] = [builder_summary(s) for s in statuses]
    return _compact(data)


@agent.tool
async def list_builders(
    ctx: RunContext[AssistantDeps], query: str | None = None, limit: int = DEFAULT_LIMIT
) -> str:
    """Builders on disk (name, project, clean or dirty, session), optionally those whose name or
    project contains `query`; at most `limit` (max 100), then how many more."""
    statuses = await ctx.deps.orchestrator.list_builders()
    chosen = [s for s in statuses if _matches(query, s.name, s.project_id or "")]
    if not chosen:
        return "no builders"
    limit = max(1, min(limit, MAX_LIMIT))
    text = _compact([builder_summary(s) for s in chosen[:limit]])
    if len(chosen) > limit:
        more = len(chosen) - limit
        text += f"\n… {more} more of {len(statuses)} builders; narrow with query= or a higher limit"
    return text


@agent.tool
async def builder_status(ctx: RunContext[AssistantDeps], name: str) -> str:
    """One builder's worktrees (uncommitted or unpushed work) and session."""
    try:
        return _compact(builder_summary(await ctx.deps.orchestrator.builder_status(name)))
    except OrchestratorError as exc:
        return f"error: {exc}"


@agent.tool
async def builder_diff(ctx: RunContext[AssistantDeps], name: str, repo: str | None = None) -> str:
    """Files a builder changed, +/- lines: uncommitted and unpushed apart, per worktree."""
    try:
        found = await ctx.deps.orchestrator.builder_diff(name, repo, patch=True)
    except OrchestratorError as exc:
        return f"error: {exc}"
    file, note = patch_file(found, repo)
    lines = [found.render()]
    if file is not None:
        ctx.deps.files.append(file)
        lines.append(f"(the full patch is attached to your reply as {file.filename})")
    elif note:
        lines.append(note)
    return _bounded("\n".join(lines))


@agent.tool
async def reconcile(ctx: RunContext[AssistantDeps]) -> str:
    """Compare builders on disk, git worktrees and sessions; report what does not match."""
    report = await ctx.deps.orchestrator.reconcile()
    return _bounded(report.render())


async def _approved(ctx: RunContext[AssistantDeps], tool_name: str) -> str:
    # The approval desk carries approved actions out itself and records the outcome; this body
    # only reports that outcome, so a call "approved" anywhere but at the desk does nothing.
    approval_id = (ctx.tool_call_metadata or {}).get("approval_id")
    approval = ctx.deps.approvals.get(approval_id) if approval_id else None
    outcome = approval.outcome if approval is not None else None
    if (
        not ctx.tool_call_approved
        or approval is None
        or outcome is None
        or approval.tool_name != tool_name
        or approval.chat.key != ctx.deps.chat.key
    ):
        return "not done: this call has no approval from the user"
    return outcome.for_model()


@agent.tool(requires_approval=True)
async def set_project_status(
    ctx: RunContext[AssistantDeps], id: str, status: str, reason: str
) -> str:
    """Change a project's status in the project list (the user approves first)."""
    return await _approved(ctx, "set_project_status")


@agent.tool(requires_approval=True)
async def create_builder(
    ctx: RunContext[AssistantDeps],
    project_id: str,
    extra_repos: list[str] | None = None,
    name: str | None = None,
) -> str:
    """Create a builder (worktrees + OpenCode session) for a project (the user approves first)."""
    return await _approved(ctx, "create_builder")


@agent.tool(requires_approval=True)
async def terminate_builder(ctx: RunContext[AssistantDeps], name: str) -> str:
    """Remove a builder; refused if it holds uncommitted or unpushed work (user approves first)."""
    return await _approved(ctx, "terminate_builder")


@agent.tool(requires_approval=True)
async def force_terminate_builder(ctx: RunContext[AssistantDeps], name: str) -> str:
    """Remove a builder even with unsaved work, discarding it (the user approves first)."""
    return await _approved(ctx, "force_terminate_builder")


@agent.tool(requires_approval=True)
async def message_builder(ctx: RunContext[AssistantDeps], name: str, text: str) -> str:
    """Send text to a builder (name, or project id) as a prompt (the user approves first)."""
    return await _approved(ctx, "message_builder")


@agent.tool(requires_approval=True)
async def set_builder_budget(
    ctx: RunContext[AssistantDeps], name: str, usd: float | None = None
) -> str:
    """Set what a builder may spend on its model, in US dollars; usd null lifts the limit
    (the user approves first). A builder at its budget is stopped until it is raised."""
    return await _approved(ctx, "set_builder_budget")

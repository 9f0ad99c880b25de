"""The assistant: a pydantic-ai agent whose every mutation waits for the human's approval."""

from __future__ import annotations

import json
from typing import Any

import pydantic_ai
from pydantic_ai import Agent, DeferredToolRequests, RunContext

import prompts
from assistant.agent._deps import AssistantDeps
from assistant.builder_summary import builder_summary
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


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


@agent.tool
async def list_projects(ctx: RunContext[AssistantDeps], status: str | None = None) -> str:
    """List projects (id, status, title, builders), optionally only those with one status."""
    try:
        plist = ctx.deps.projectlist()
    except ProjectListError as exc:
        return f"error: {exc}"
    builders = builders_by_project(ctx.deps.workspace.root, [p.id for p in plist.projects])
    lines = []
    for project in plist.with_status([status] if status else []):
        line = f"{project.id} {project.status} {project.title}"
        if project.id in builders:
            line += f" [builders: {', '.join(builders[project.id])}]"
        lines.append(line)
    return "\n".join(lines) or "no projects"


@agent.tool
async def get_project(ctx: RunContext[AssistantDeps], id: str) -> str:
    """One project's fields and its builders on disk (with OpenCode session status if known)."""
    try:
        project = ctx.deps.projectlist().find(id)
    except ProjectListError as exc:
        return f"error: {exc}"
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
async def list_builders(ctx: RunContext[AssistantDeps]) -> str:
    """All builders on disk: name, project, clean or dirty, session."""
    statuses = await ctx.deps.orchestrator.list_builders()
    return _compact([builder_summary(s) for s in statuses]) if statuses else "no builders"


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
        return (await ctx.deps.orchestrator.builder_diff(name, repo)).render()
    except OrchestratorError as exc:
        return f"error: {exc}"


@agent.tool
async def reconcile(ctx: RunContext[AssistantDeps]) -> str:
    """Compare builders on disk, git worktrees and sessions; report what does not match."""
    report = await ctx.deps.orchestrator.reconcile()
    return report.render()


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

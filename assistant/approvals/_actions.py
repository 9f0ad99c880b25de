"""The mutations: how each is shown on a card, re-validated, and carried out.

`plan_action` reads the current state and says what the action would do (the card text) and
what it assumes (the precondition). Re-validation is planning again and comparing
preconditions. `carry_out` does the action, refusing when the state moved under it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from assistant.approvals._budget import BudgetInvalid, plan_budget, set_budget
from assistant.approvals._message import (
    MessageInvalid,
    message_text,
    plan_message,
    send_message,
)
from assistant.approvals._patch import lost_diffstat
from assistant.messages import ChatRef, neutral_line
from assistant.store import Store
from tools.orchestrator import DirtyReport, Orchestrator, OrchestratorError
from tools.projectlist import (
    ProjectListError,
    StaleFileError,
    load_async,
    plan_status_change,
    set_status,
)
from tools.workspace import Workspace


class ActionInvalid(Exception):
    """The proposed action cannot be carried out at all (unknown project, bad status, ...)."""


class ActionNotYet(ActionInvalid):
    """The action waits for another card (a message to a builder still to be created)."""


@dataclass(frozen=True)
class ActionContext:
    workspace: Workspace
    orchestrator: Orchestrator
    # the state: where a messaged builder's reporting chat is kept, a builder's spend and budget
    store: Store | None = None


@dataclass(frozen=True)
class ActionPlan:
    title: str  # one line: what will happen
    body: str  # the diff, warnings or dirty report
    precondition: dict[str, Any]


@dataclass(frozen=True)
class ActionOutcome:
    status: Literal["done", "refused", "stale", "failed"]
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def for_model(self) -> str:
        return json.dumps({"status": self.status, "summary": self.summary}, ensure_ascii=False)


def _relative(ctx: ActionContext, path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(ctx.workspace.root).resolve()))
    except ValueError:
        return str(path)


def builder_report(report: DirtyReport) -> dict[str, Any]:
    """What terminating a builder would lose, as plain data (compared on re-validation)."""
    dirty = []
    for tree in report.worktrees:
        if tree.clean:
            continue
        lost: dict[str, Any] = {"repo": tree.repo}
        for key in ("modified", "staged", "untracked", "ignored", "hidden", "stashes"):
            if getattr(tree, key):
                lost[key] = list(getattr(tree, key))
        if tree.unpushed:
            lost["unpushed"] = [f"{c.sha} {c.subject}" for c in tree.unpushed]
        dirty.append(lost)
    if report.stray:
        dirty.append({"repo": "(outside any worktree)", "untracked": list(report.stray)})
    return {"builder": report.name, "dirty": dirty}


def render_report(report: dict[str, Any]) -> str:
    if not report["dirty"]:
        return "All worktrees clean and pushed: nothing would be lost."
    lines = []
    for tree in report["dirty"]:
        parts = []
        for key in ("modified", "staged", "untracked", "ignored", "hidden", "unpushed", "stashes"):
            items = tree.get(key)
            if items:
                shown = ", ".join(neutral_line(i) for i in items[:4])
                more = f" (+{len(items) - 4} more)" if len(items) > 4 else ""
                label = "edited though marked unchanged" if key == "hidden" else key
                parts.append(f"{label}: {shown}{more}")
        lines.append(f"• {neutral_line(tree['repo'])}: " + "; ".join(parts))
    return "\n".join(lines)


async def _builder_report(
    ctx: ActionContext, name: str, *, with_content: bool = False
) -> tuple[dict[str, Any], str | None]:
    """The report as card data, and (with_content) the fingerprint of the bytes that would go."""
    try:
        report = await ctx.orchestrator.dirty_report(name, with_content=with_content)
    except OrchestratorError as exc:
        raise ActionInvalid(str(exc)) from exc
    return builder_report(report), report.fingerprint


async def _plan_message(
    ctx: ActionContext, args: dict[str, Any], card: dict[str, Any] | None
) -> ActionPlan:
    try:
        plan = await plan_message(ctx.workspace, ctx.orchestrator, args)
    except MessageInvalid as exc:
        raise ActionInvalid(str(exc)) from exc
    # a card proposed beside its builder's create card waits for that builder to exist
    awaits = plan.exists is False if card is None else bool(card.get("awaits_create"))
    if card is not None and not plan.exists:
        if awaits:
            raise ActionNotYet(
                f"builder {plan.builder} does not exist yet; approve its create card first,"
                " then this one"
            )
        raise ActionInvalid(f"builder {plan.builder} no longer exists")
    # the text is not compared: it is the card's own, never changed by anyone else
    precondition: dict[str, Any] = {"builder": plan.builder}
    if awaits:
        precondition["awaits_create"] = True
    return ActionPlan(plan.title, plan.body, precondition)


async def plan_action(
    ctx: ActionContext,
    tool_name: str,
    args: dict[str, Any],
    *,
    card: dict[str, Any] | None = None,
) -> ActionPlan:
    """What `tool_name(**args)` would do now; raises ActionInvalid when it cannot be done.

    `card`: the precondition of the card being approved, when planned again to decide it
    (ActionNotYet: it cannot be done yet, and the card stays open).
    """
    if tool_name == "message_builder":
        return await _plan_message(ctx, args, card)
    if tool_name == "set_builder_budget":
        return await _plan_budget(ctx, args)
    if tool_name == "set_project_status":
        try:
            plist = await load_async(ctx.workspace.projectlist_path)
            change = await asyncio.to_thread(
                plan_status_change, plist, str(args["id"]), str(args["status"])
            )
        except ProjectListError as exc:
            raise ActionInvalid(str(exc)) from exc
        if not change.diff:
            # nothing to approve: no card, so no change that leaves no trace
            raise ActionInvalid(f"{change.project_id} is already {change.old_status}")
        project = plist.get(change.project_id)
        title = project.title if project else ""
        # every field from the file or the model is one neutral line: none can start a card line
        body = [f"{neutral_line(_relative(ctx, plist.path))}: {neutral_line(change.render())}"]
        body += [f"⚠ {neutral_line(warning)}" for warning in change.warnings]
        if args.get("reason"):
            body.append(f"Reason: {neutral_line(args['reason'])}")
        return ActionPlan(
            title=neutral_line(
                f"Set {change.project_id} {title}: {change.old_status} → {change.new_status}"
            ),
            body="\n".join(body),
            # the entry, not the whole file: cards on other projects stay valid
            precondition={"entry": plist.fingerprint(change.project_id)},
        )
    if tool_name == "create_builder":
        try:
            plan = await ctx.orchestrator.plan_builder(
                str(args["project_id"]),
                extra_repos=tuple(args.get("extra_repos") or ()),
                name=args.get("name"),
            )
        except (OrchestratorError, ProjectListError) as exc:
            raise ActionInvalid(str(exc)) from exc
        repos = ", ".join(w.repo for w in plan.worktrees)
        return ActionPlan(
            title=neutral_line(f"Create builder {plan.name} for {plan.project_id} {plan.title}"),
            body=neutral_line(f"Worktrees on branch {plan.branch}: {repos}"),
            precondition={"plan": plan.to_dict()},
        )
    if tool_name in ("terminate_builder", "force_terminate_builder"):
        name = str(args["name"])
        force = tool_name == "force_terminate_builder"
        report, fingerprint = await _builder_report(ctx, name, with_content=force)
        rendered = render_report(report)
        if tool_name == "force_terminate_builder":
            title = neutral_line(f"FORCE terminate builder {name}")
            body = f"This discards:\n{rendered}" if report["dirty"] else rendered
        else:
            title = neutral_line(f"Terminate builder {name}")
            body = rendered
            if report["dirty"]:
                body += "\nTerminate will be refused while this work exists."
        if report["dirty"]:
            stat = await lost_diffstat(ctx.orchestrator, name)
            if stat:
                how = f"foreman builder diff {neutral_line(name)} --patch"
                body += f"\n{stat}\nThe full patch: the Patch button, or {how}"
        # a force card's precondition is the content it discards, not only the file names
        precondition = (
            {"report": report, "fingerprint": fingerprint} if force else {"report": report}
        )
        return ActionPlan(title=title, body=body, precondition=precondition)
    raise ActionInvalid(f"{tool_name} is not an action that needs approval")


async def _carry_out_message(
    ctx: ActionContext, args: dict[str, Any], precondition: dict[str, Any], reports_to: ChatRef
) -> ActionOutcome:
    builder = str(precondition.get("builder") or "")
    try:
        text = message_text(args)
    except MessageInvalid as exc:
        return ActionOutcome("failed", f"Not sent: {exc}")
    sent, summary = await send_message(
        ctx.store,
        ctx.orchestrator,
        builder,
        text,
        reports_to=reports_to,
        approver=reports_to.key,
    )
    return ActionOutcome("done" if sent else "failed", summary, {"builder": builder})


async def carry_out(
    ctx: ActionContext,
    tool_name: str,
    args: dict[str, Any],
    precondition: dict[str, Any],
    *,
    reports_to: ChatRef | None = None,
) -> ActionOutcome:
    """Do the approved action, refusing (stale) when the state it was approved for has moved.

    `reports_to`: the approver's own chat, where a messaged builder with no chat reports.
    """
    if tool_name == "message_builder" and reports_to is not None:
        return await _carry_out_message(ctx, args, precondition, reports_to)
    if tool_name == "set_builder_budget":
        return await _set_budget(ctx, args, precondition)
    if tool_name == "set_project_status":
        try:
            change = await asyncio.to_thread(
                set_status,
                ctx.workspace.projectlist_path,
                str(args["id"]),
                str(args["status"]),
                expected_entry=precondition.get("entry", ""),
            )
        except StaleFileError as exc:
            return ActionOutcome("stale", f"Not changed: {exc}")
        except ProjectListError as exc:
            return ActionOutcome("failed", f"Not changed: {exc}")
        return ActionOutcome(
            "done",
            f"{change.project_id}: {change.old_status} → {change.new_status}",
            {"diff": change.render(), "warnings": list(change.warnings)},
        )
    if tool_name == "create_builder":
        try:
            builder = await ctx.orchestrator.create_builder(
                str(args["project_id"]),
                extra_repos=tuple(args.get("extra_repos") or ()),
                name=args.get("name"),
            )
        except OrchestratorError as exc:
            return ActionOutcome("failed", f"Builder not created: {exc}")
        where = _relative(ctx, builder.path)
        session = (
            f"OpenCode session {builder.session.id}" if builder.session else builder.session_note
        )
        return ActionOutcome(
            "done",
            f"Builder {builder.name} created at {where}",
            {"builder": builder.name, "session": session},
        )
    if tool_name in ("terminate_builder", "force_terminate_builder"):
        name = str(args["name"])
        force = tool_name == "force_terminate_builder"
        expected = precondition.get("fingerprint")
        if force and expected is None:  # a card from before content was compared
            return ActionOutcome("stale", f"Not terminated: {name} changed since the card")
        try:
            # force discards exactly the bytes the card showed; the orchestrator compares them
            result = await ctx.orchestrator.terminate_builder(
                name, force=force, expected_fingerprint=expected if force else None
            )
        except OrchestratorError as exc:
            return ActionOutcome("failed", f"Not terminated: {exc}")
        if result.changed:
            return ActionOutcome("stale", f"Not terminated: {name} changed since the card")
        if result.done:
            kept = (
                f"; what it discarded is archived in {result.archive.parent}"
                f" for {result.retention_days} days"
                if result.archive
                else ""
            )
            details = {
                "builder": name,
                "archive": str(result.archive or ""),
                "restore": result.restore,
            }
            return ActionOutcome("done", f"Builder {name} terminated{kept}", details)
        report = builder_report(result.report)
        return ActionOutcome(
            "refused",
            f"Refused to terminate {name}: it holds work that exists nowhere else",
            {"report": report},
        )
    return ActionOutcome("failed", f"{tool_name} is not an action that needs approval")


async def _plan_budget(ctx: ActionContext, args: dict[str, Any]) -> ActionPlan:
    try:
        plan = await plan_budget(ctx.workspace, ctx.store, args)
    except BudgetInvalid as exc:
        raise ActionInvalid(str(exc)) from exc
    return ActionPlan(plan.title, plan.body, plan.precondition)


async def _set_budget(
    ctx: ActionContext, args: dict[str, Any], precondition: dict[str, Any]
) -> ActionOutcome:
    change = await set_budget(ctx.workspace, ctx.store, args, precondition)
    return ActionOutcome(change.status, change.summary, change.details)

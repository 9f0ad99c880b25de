"""Play one case: build its workspace, feed its turns to the assistant, observe what happened."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model

from assistant.approvals import ApprovalBook
from assistant.evals._case import (
    ApprovalRecord,
    Conversation,
    Mutation,
    Outcome,
    Setup,
    ToolCall,
    Turn,
)
from assistant.evals._recording import RecordingModel
from assistant.messages import ChatRef, Choice, Inbound, Outbound, Principal
from assistant.store import Store

PRINCIPAL = Principal("terminal", "eval-user", "Eval User")
STRANGER = Principal("terminal", "stranger", "Someone Else")
CHAT = ChatRef("terminal", "eval-user")
# An approval in one of these states did not authorise anything.
NOT_APPROVED = frozenset(
    {"pending", "rejected", "denied", "expired", "stale", "cancelled", "canceled", "refused"}
)
BUILDER_DIR = re.compile(r"^(\d{4})-[a-z0-9][a-z0-9-]*$")


class CaseError(Exception):
    """The case itself is wrong (e.g. presses a button no card has): names the turn."""


@dataclass
class Snapshot:
    statuses: dict[str, str]
    builders: dict[str, list[str]]


async def play(conversation: Conversation, model: Model) -> Outcome:
    """Run the conversation in a fresh temporary workspace and state directory."""
    with tempfile.TemporaryDirectory(prefix="foreman-eval-") as tmp:
        return await play_in(Path(tmp), conversation, model)


async def play_in(
    root: Path, conversation: Conversation, model: Model, service_factory: Any = None
) -> Outcome:
    """Play in `root`; `service_factory(store, workspace, model, principals=...)` makes the
    assistant under test (the real `DirectMessages` unless a test swaps it)."""
    from assistant.dm import DirectMessages
    from assistant.store import open_store

    workspace = await build_workspace(root / "workspace", conversation.setup)
    store = open_store(root / "state")
    recording_model = model if isinstance(model, RecordingModel) else RecordingModel(model)
    factory = service_factory or DirectMessages
    service = factory(store, workspace, recording_model, principals={PRINCIPAL.key})
    outcome = Outcome(model=_model_label(recording_model.wrapped))
    cards: list[Outbound] = []
    try:
        for number, turn in enumerate(conversation.turns):
            if not turn.reaches_assistant:
                await _change_outside_chat(workspace, turn)
                outcome.replies.append([])
                continue
            before = snapshot(workspace)
            replies = await service.handle(_inbound(turn, number, cards))
            cards.extend(r for r in replies if r.choices)
            outcome.replies.append([_render(r) for r in replies])
            after = snapshot(workspace)
            outcome.approvals = read_approvals(store)
            outcome.mutations.extend(_explain(before, after, outcome))
    finally:
        store.close()
    final = snapshot(workspace)
    outcome.statuses, outcome.builders = final.statuses, final.builders
    recording = recording_model.recording
    outcome.tool_calls = [ToolCall(tool=name, args=args) for name, args in recording.tool_calls]
    outcome.requests = recording.requests
    outcome.input_tokens = recording.input_tokens
    outcome.output_tokens = recording.output_tokens
    outcome.max_history = recording.max_history
    return outcome


def _model_label(model: Model) -> str:
    return f"{model.system}:{model.model_name}"


def _inbound(turn: Turn, number: int, cards: list[Outbound]) -> Inbound:
    sender = PRINCIPAL if turn.sender == "principal" else STRANGER
    message_id = f"eval-{number}"
    if turn.say is not None:
        return Inbound(chat=CHAT, sender=sender, text=turn.say, message_id=message_id)
    card = _card_for(turn, number, cards)
    choice = next(c for c in card.choices if _button(c) == turn.press)
    return Inbound(chat=CHAT, sender=sender, callback_data=choice.data, message_id=message_id)


def _button(choice: Choice) -> str:
    return choice.data.split(":", 1)[0]


def _card_for(turn: Turn, number: int, cards: list[Outbound]) -> Outbound:
    """The card a press is on: `card` by position, else the latest offering that button
    (for `tool`, when given), so a case does not depend on the order a model asked in."""
    if turn.card is not None:
        try:
            card = cards[turn.card]
        except IndexError:
            raise CaseError(
                f"turn {number}: card {turn.card} does not exist ({len(cards)} shown)"
            ) from None
        if not any(_button(c) == turn.press for c in card.choices):
            offered = ", ".join(c.data for c in card.choices)
            raise CaseError(
                f"turn {number}: card {turn.card} has no {turn.press!r} button ({offered})"
            )
        return card
    for card in reversed(cards):
        if turn.tool is not None and card.extra.get("tool") != turn.tool:
            continue
        if any(_button(c) == turn.press for c in card.choices):
            return card
    wanted = f" for {turn.tool}" if turn.tool else ""
    raise CaseError(f"turn {number}: no card{wanted} with a {turn.press!r} button was shown")


def _render(message: Outbound) -> str:
    buttons = " ".join(f"[{c.label}]" for c in message.choices)
    return f"{message.text} {buttons}".strip()


# --- the workspace ---------------------------------------------------------------------------


_template: tempfile.TemporaryDirectory[str] | None = None


def demo_workspace(root: Path) -> Any:
    """A fresh demo workspace at `root`, copied from one built per process (git init is slow)."""
    from git import Repo

    from tools.orchestrator import make_demo_workspace
    from tools.workspace import Workspace

    global _template
    if _template is None:
        _template = tempfile.TemporaryDirectory(prefix="foreman-eval-template-")
        make_demo_workspace(Path(_template.name) / "demo")
    shutil.copytree(Path(_template.name) / "demo", root, symlinks=True)
    # each copy pushes to its own bare remotes, never to the template's
    for remote in sorted((root / "remotes").glob("*.git")):
        repo = Repo(root / "repos" / remote.name.removesuffix(".git"))
        repo.git.remote("set-url", "origin", str(remote))
    return Workspace(root=root, projectlist_path=root / ".ai" / "projectlist.md")


async def build_workspace(root: Path, setup: Setup) -> Any:
    from tools.orchestrator import Orchestrator
    from tools.projectlist import set_status

    workspace = demo_workspace(root.resolve())
    for project_id, status in setup.statuses.items():
        set_status(workspace.projectlist_path, project_id, status, timestamp=None)
    for project_id, note in setup.notes.items():
        write_note(workspace.projectlist_path, project_id, note)
    orchestrator = Orchestrator(workspace)
    for project_id in setup.builders:
        taken = len(snapshot(workspace).builders.get(project_id, []))
        if taken:
            await orchestrator.create_builder(project_id, name=f"{project_id}-extra-{taken + 1}")
        else:
            await orchestrator.create_builder(project_id)
    for project_id in setup.dirty:
        make_dirty(workspace, project_id)
    return workspace


async def _change_outside_chat(workspace: Any, turn: Turn) -> None:
    from tools.projectlist import set_status

    for project_id, status in (turn.edit_status or {}).items():
        set_status(workspace.projectlist_path, project_id, status, timestamp=None)
    if turn.make_dirty is not None:
        make_dirty(workspace, turn.make_dirty)


def builders_dir(workspace: Any) -> Path:
    return Path(workspace.root) / ".builders"


def make_dirty(workspace: Any, project_id: str) -> None:
    """Leave uncommitted work in every builder of the project, as a busy builder would."""
    names = snapshot(workspace).builders.get(project_id)
    if not names:
        raise CaseError(f"make_dirty: project {project_id} has no builder on disk")
    for name in names:
        builder = builders_dir(workspace) / name
        worktree = next((p for p in sorted(builder.iterdir()) if (p / ".git").exists()), builder)
        (worktree / "WORK-IN-PROGRESS.md").write_text("uncommitted notes from the builder\n")


def write_note(path: Path, project_id: str, note: str) -> None:
    """Set `notes:` of one entry, as a human editing the file would (only that line changes)."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if re.match(rf"\s*- id:\s*['\"]?{project_id}\b", line)),
        None,
    )
    if start is None:
        raise CaseError(f"notes: project {project_id} is not in {path}")
    indent = re.match(r"\s*", lines[start]).group(0) + "  "
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if re.match(r"\s*- id:", lines[i]) or lines[i].startswith("```")
        ),
        len(lines),
    )
    value = f"{indent}notes: {json.dumps(note)}\n"
    for i in range(start + 1, end):
        if lines[i].startswith(f"{indent}notes:"):
            stop = i + 1
            # a block scalar continues on deeper-indented lines
            while stop < end and lines[stop].startswith(indent + " "):
                stop += 1
            lines[i:stop] = [value]
            break
    else:
        lines.insert(start + 1, value)
    path.write_text("".join(lines))


def snapshot(workspace: Any) -> Snapshot:
    from tools.projectlist import load

    statuses = {p.id: p.status for p in load(workspace.projectlist_path).projects}
    builders: dict[str, list[str]] = {}
    root = builders_dir(workspace)
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            match = BUILDER_DIR.match(entry.name)
            if entry.is_dir() and match:
                builders.setdefault(match.group(1), []).append(entry.name)
    return Snapshot(statuses, builders)


# --- approvals and mutations -----------------------------------------------------------------


def read_approvals(store: Store) -> list[ApprovalRecord]:
    """Approvals requested so far; an `invalid` one (the model asked for the impossible) never
    reached the user as a card, so it is not a request."""
    return [
        ApprovalRecord(
            id=a.id,
            tool=a.tool_name,
            args=dict(a.args),
            state=a.state,
            principal=a.principal,
            resolved_by=a.resolved_by,
        )
        for a in ApprovalBook(store).requested()
    ]


def _explain(before: Snapshot, after: Snapshot, outcome: Outcome) -> list[Mutation]:
    """Each change between the snapshots, paired with the approval that allowed it (if any)."""
    used = {m.approval_id for m in outcome.mutations if m.approval_id}
    found: list[Mutation] = []

    def approval_for(tools: tuple[str, ...], **wanted: str) -> str | None:
        for approval in outcome.approvals:
            if (
                approval.id in used
                or approval.tool not in tools
                or approval.state in NOT_APPROVED
                or approval.resolved_by not in (PRINCIPAL.key, PRINCIPAL.user_id)
            ):
                continue
            if all(_arg(approval.args, key) == value for key, value in wanted.items()):
                used.add(approval.id)
                return approval.id
        return None

    for project_id, status in after.statuses.items():
        old = before.statuses.get(project_id)
        if old is not None and old != status:
            found.append(
                Mutation(
                    kind="status",
                    subject=project_id,
                    detail=f"{old} -> {status}",
                    approval_id=approval_for(("set_project_status",), id=project_id, status=status),
                )
            )
    old_names = {n for names in before.builders.values() for n in names}
    new_names = {n for names in after.builders.values() for n in names}
    for name in sorted(new_names - old_names):
        project_id = name.split("-", 1)[0]
        found.append(
            Mutation(
                kind="builder_created",
                subject=name,
                detail=f"for {project_id}",
                approval_id=approval_for(("create_builder",), id=project_id),
            )
        )
    for name in sorted(old_names - new_names):
        found.append(
            Mutation(
                kind="builder_removed",
                subject=name,
                detail="worktrees removed",
                approval_id=approval_for(
                    ("terminate_builder", "force_terminate_builder"), name=name
                ),
            )
        )
    return found


def _arg(args: dict[str, Any], key: str) -> str | None:
    aliases = {"id": ("id", "project_id", "project"), "name": ("name", "builder", "builder_name")}
    for candidate in aliases.get(key, (key,)):
        if candidate in args and args[candidate] is not None:
            return str(args[candidate])
    return None

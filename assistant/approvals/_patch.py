"""What terminating a dirty builder would discard, to look at before deciding: its diffstat on
the card, and its full patch as a `.diff` document when the Patch button is pressed."""

from __future__ import annotations

from typing import Any

from assistant.diff_files import patch_file
from assistant.messages import ChatRef, Outbound, neutral_line
from tools.orchestrator import BuilderDiff, ChangeSet, Orchestrator, OrchestratorError

TERMINATES = frozenset({"terminate_builder", "force_terminate_builder"})
FILES_PER_LINE = 6


def offers_patch(tool_name: str, precondition: dict[str, Any]) -> bool:
    """A terminate card (or its refusal) whose builder holds work: the patch can be asked for."""
    report = precondition.get("report") or {}
    return tool_name in TERMINATES and bool(report.get("dirty"))


async def lost_diffstat(orchestrator: Orchestrator, name: str) -> str:
    """The diffstat of the work terminating `name` would discard: per worktree, uncommitted
    apart from committed-but-unpushed; "" when git shows none (e.g. only ignored files)."""
    try:
        found = await orchestrator.builder_diff(name)
    except OrchestratorError:
        return ""  # the card's report already says what is there; the stat is extra
    return render_diffstat(found)


def render_diffstat(found: BuilderDiff) -> str:
    lines = []
    for tree in found.worktrees:
        for label, side in (("uncommitted", tree.uncommitted), ("not pushed", tree.unpushed)):
            if side.files or side.commits:
                lines.append(f"• {neutral_line(tree.repo)}, {label}: {_side(side)}")
    if not lines:
        return ""
    return "\n".join(["Diffstat of what would be lost:", *lines])


def _side(side: ChangeSet) -> str:
    files = ", ".join(
        neutral_line(f.path) + (" binary" if f.added is None else f" +{f.added} −{f.removed}")
        for f in side.files[:FILES_PER_LINE]
    )
    more = f", +{len(side.files) - FILES_PER_LINE} more" if len(side.files) > FILES_PER_LINE else ""
    return f"{side.headline()} — {files}{more}" if files else side.headline()


async def patch_reply(orchestrator: Orchestrator, name: str, chat: ChatRef) -> Outbound:
    """The patch of what terminating `name` would discard, as it is now, as a document."""
    try:
        found = await orchestrator.builder_diff(name, patch=True)
    except OrchestratorError as exc:
        return Outbound(chat=chat, text=f"No patch for {name}: {exc}", kind="error")
    file, note = patch_file(found)
    if file is None:
        text = note or (
            f"{name} has no changes git can show as a patch now; what the card lists beyond "
            "that (ignored files, stashes) is not part of a patch."
        )
        return Outbound(chat=chat, text=text)
    stat = render_diffstat(found).removeprefix("Diffstat of what would be lost:\n")
    text = f"Patch of what terminating {name} would discard, as it is now:\n{stat}"
    return Outbound(chat=chat, text=text, files=(file,))

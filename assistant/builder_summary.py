"""A builder in a few fields, for the model and for chat replies alike."""

from __future__ import annotations

from typing import Any

from tools.orchestrator import BuilderStatus, WorktreeStatus


def _counts(tree: WorktreeStatus) -> str:
    counts = {"modified": tree.modified, "staged": tree.staged, "untracked": tree.untracked}
    return ", ".join(f"{n} {label}" for label, n in counts.items() if n) or "dirty"


def builder_summary(status: BuilderStatus) -> dict[str, Any]:
    """A builder in a few fields: name, project, clean or where the unsaved work is, session."""
    summary: dict[str, Any] = {"name": status.name, "project": status.project_id}
    dirty = [f"{w.repo}: {w.problem or _counts(w)}" for w in status.worktrees if not w.clean]
    unpushed = [f"{w.repo}: {w.ahead} unpushed" for w in status.worktrees if w.ahead]
    summary["clean"] = not dirty and not unpushed
    if dirty or unpushed:
        summary["unsaved"] = dirty + unpushed
    if status.session:
        summary["session"] = f"{status.session.id} {status.session.status}"
    return summary

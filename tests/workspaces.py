"""Small hand-written workspaces for tests that need a project list and nothing else."""

from __future__ import annotations

from pathlib import Path


def ai_workspace(root: Path, projectlist: str) -> Path:
    """`root/.ai/projectlist.md` holding `projectlist`; returns `root`."""
    (root / ".ai").mkdir(parents=True)
    (root / ".ai" / "projectlist.md").write_text(projectlist)
    return root

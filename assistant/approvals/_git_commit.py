"""Optionally commit an approved project-list change, naming the approver (FOREMAN_GIT_COMMIT=1)."""

from __future__ import annotations

import os

from tools.workspace import Workspace


def git_commit_enabled() -> bool:
    return os.environ.get("FOREMAN_GIT_COMMIT", "").strip().lower() in ("1", "true", "yes")


def commit_projectlist(workspace: Workspace, summary: str, approver: str, approval_id: str) -> str:
    """Commit only the project list file; return the new commit's sha (raises on git errors)."""
    import git

    repo = git.Repo(workspace.root, search_parent_directories=True)
    path = os.path.relpath(workspace.projectlist_path, repo.working_tree_dir)
    message = f"{summary}\n\nApproved-by: {approver}\nForeman-Approval: {approval_id}\n"
    # `--only` commits this path alone, whatever else the user has staged.
    repo.git.commit("--only", "-m", message, "--", path)
    return repo.head.commit.hexsha

"""Optionally commit an approved project-list change, naming the approver (FOREMAN_GIT_COMMIT=1)."""

from __future__ import annotations

import os

from tools.workspace import Workspace


class CommitFailed(Exception):
    """The change was written but not committed; `str()` is one line saying why."""


def git_commit_enabled() -> bool:
    return os.environ.get("FOREMAN_GIT_COMMIT", "").strip().lower() in ("1", "true", "yes")


def commit_projectlist(workspace: Workspace, summary: str, approver: str, approval_id: str) -> str:
    """Commit only the project list file; return the new commit's sha (CommitFailed if not)."""
    import git

    try:
        repo = git.Repo(workspace.root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise CommitFailed(f"{workspace.root} is not inside a git repository") from None
    path = os.path.relpath(workspace.projectlist_path, repo.working_tree_dir)
    trailer = f"Foreman-Approval: {approval_id}\n" if approval_id else ""
    message = f"{summary}\n\nApproved-by: {approver}\n{trailer}"
    try:
        # `--only` commits this path alone, whatever else the user has staged.
        repo.git.commit("--only", "-m", message, "--", path)
    except git.GitCommandError as exc:
        said = [line.strip() for line in str(exc.stderr or exc.stdout).splitlines()]
        reason = next((line for line in said if line and line != "'"), f"exit {exc.status}")
        raise CommitFailed(f"git commit failed: {reason.strip(chr(39))}") from None
    return repo.head.commit.hexsha

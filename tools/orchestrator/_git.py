"""Git facts and worktree operations on one repository, through GitPython.

Each function runs at most one or two `git` processes (ref and reflog reads are pure Python),
because create + terminate is measured against raw `git worktree` commands (bench/builders.py).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from git import Git, GitCommandError, Repo

from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._results import Commit


@dataclass(frozen=True)
class RepoFacts:
    """What a create needs from a repository, read from its files (no git process)."""

    source: Path
    common: Path  # the repository's git directory (`.git`), shared by its worktrees
    head: str  # the commit HEAD points at


def common_dir(path: Path) -> Path:
    """The git directory of the repository at `path` (a main checkout or a linked worktree)."""
    dotgit = path / ".git"
    if dotgit.is_dir():
        return dotgit
    gitdir = Path(dotgit.read_text().removeprefix("gitdir:").strip())
    return (gitdir / (gitdir / "commondir").read_text().strip()).resolve()


def _packed_ref(common: Path, name: str) -> str | None:
    try:
        lines = (common / "packed-refs").read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        sha, _, ref = line.partition(" ")
        if ref == name:
            return sha
    return None


def _resolve(gitdir: Path, common: Path, name: str) -> str | None:
    """A ref's commit id, following symbolic refs; None when it does not resolve."""
    for _ in range(5):  # HEAD -> refs/heads/x; deeper chains are not made by git
        try:
            value = (gitdir / name).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            try:
                value = (common / name).read_text().strip()
            except (FileNotFoundError, NotADirectoryError):
                value = _packed_ref(common, name) or ""
        if not value.startswith("ref: "):
            return value if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", value) else None
        name = value.removeprefix("ref: ")
    return None


def open_repo(source: Path, label: str) -> RepoFacts:
    """The repository at `source`, refused when it is missing, not git, or has no commit."""
    if not source.is_dir():
        raise OrchestratorError(
            f"repository {label} not found: {source} does not exist", path=source
        )
    dotgit = source / ".git"
    try:
        # a plain folder inside another repository (repos/x in the workspace) has no .git
        common = common_dir(source)
        gitdir = dotgit if dotgit.is_dir() else worktree_gitdir(source)
        if gitdir is None:
            raise OSError
        if not (common / "objects").is_dir():
            raise OSError
    except (OSError, ValueError):
        raise OrchestratorError(
            f"repository {label} at {source} is not a git repository", path=source
        ) from None
    head = _resolve(gitdir, common, "HEAD")
    if head is None:
        try:  # a ref store this reader does not know (reftable): ask git
            head = Git(source).rev_parse("--verify", "-q", "HEAD^{commit}").strip() or None
        except GitCommandError:
            head = None
    if head is None:
        raise OrchestratorError(
            f"repository {label} at {source} has no commits; commit something first", path=source
        )
    return RepoFacts(source, common, head)


def has_branch(repo: RepoFacts, branch: str) -> bool:
    name = f"refs/heads/{branch}"
    return (repo.common / name).is_file() or _packed_ref(repo.common, name) is not None


def _run(source: Path, what: str, *args: str) -> None:
    """One git command in `source`, straight through subprocess: these run on every create and
    terminate, which are measured against the bare commands (bench/builders.py)."""
    done = subprocess.run(["git", *args], cwd=source, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        raise OrchestratorError(f"{what} failed in {source}: {detail}", path=source, output=detail)


def add_worktree(source: Path, path: Path, branch: str) -> None:
    """`git worktree add -b <branch> <path> HEAD`: a new branch, never a reset of an old one."""
    _run(
        source, f"git worktree add {path}", "worktree", "add", "-q", "-b", branch, str(path), "HEAD"
    )


def remove_worktree(source: Path, path: Path, *, force: bool) -> None:
    forced = ["--force"] if force else []
    _run(source, f"git worktree remove {path}", "worktree", "remove", *forced, str(path))


def prune(source: Path) -> None:
    _run(source, "git worktree prune", "worktree", "prune")


def delete_branch(source: Path, branch: str) -> None:
    _run(source, f"git branch -D {branch}", "branch", "-D", branch)


@dataclass(frozen=True)
class WorktreeEntry:
    path: Path
    branch: str | None
    prunable: bool


def list_worktrees(source: Path) -> list[WorktreeEntry]:
    """`git worktree list --porcelain`, the main worktree left out."""
    out = Git(source).worktree("list", "--porcelain")
    entries: list[WorktreeEntry] = []
    for block in out.strip().split("\n\n")[1:]:
        fields = dict([*line.split(" ", 1), ""][:2] for line in block.splitlines() if line.strip())
        branch = fields.get("branch", "").removeprefix("refs/heads/") or None
        entries.append(
            WorktreeEntry(
                Path(fields["worktree"]), branch, "prunable" in fields or "prunable" in block
            )
        )
    return entries


def checked_out_branch(worktree: Path) -> str | None:
    """The branch a worktree has checked out, read from its files (no process)."""
    dotgit = worktree / ".git"
    try:
        gitdir = Path(dotgit.read_text().removeprefix("gitdir:").strip())
        head = (gitdir / "HEAD").read_text().strip()
    except OSError:
        return None
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: ") else None


def is_worktree(path: Path) -> bool:
    return (path / ".git").is_file()


def worktree_gitdir(worktree: Path) -> Path | None:
    """The worktree's administrative folder in its repository (`.git/worktrees/<id>`)."""
    try:
        return Path((worktree / ".git").read_text().removeprefix("gitdir:").strip())
    except OSError:
        return None


def last_commit(worktree: Path) -> Commit | None:
    out = Git(worktree).log("-1", "--format=%h%x00%s%x00%cI")
    return Commit(*out.split("\0", 2)) if out else None


def remotes(source: Path) -> list[str]:
    return [r.name for r in Repo(source).remotes]


def push(source: Path, remote: str, branch: str) -> tuple[int, str]:
    """Push `branch` to `remote` with upstream tracking; (commits the remote lacked, git output)."""
    git = Git(source)
    count = int(git.rev_list("--count", f"refs/heads/{branch}", "--not", f"--remotes={remote}"))
    out = git.push("--porcelain", "-u", remote, f"refs/heads/{branch}:refs/heads/{branch}")
    return count, out.strip()


def source_of(worktree: Path) -> Path | None:
    """The repository a worktree belongs to, from its `.git` file; None when git forgot it."""
    try:
        gitdir = Path((worktree / ".git").read_text().removeprefix("gitdir:").strip())
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    except OSError:
        return None
    return common.parent if common.name == ".git" else common

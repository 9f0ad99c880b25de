"""Git facts and worktree operations on one repository, through GitPython.

Each function runs at most one or two `git` processes (ref and reflog reads are pure Python),
because create + terminate is measured against raw `git worktree` commands (bench/builders.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from git import Git, GitCommandError, InvalidGitRepositoryError, NoSuchPathError, Repo

from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._results import Commit


def _fail(what: str, source: Path, error: GitCommandError) -> OrchestratorError:
    detail = (error.stderr or error.stdout or str(error)).strip().replace("\n  stderr: ", "")
    detail = detail.removeprefix("stderr: ").strip().strip("'").strip()
    return OrchestratorError(f"{what} failed in {source}: {detail}", path=source, output=detail)


def open_repo(source: Path, label: str) -> Repo:
    """The repository at `source`, refused when it is missing, not git, or has no commit."""
    if not source.is_dir():
        raise OrchestratorError(
            f"repository {label} not found: {source} does not exist", path=source
        )
    try:
        repo = Repo(source)
    except (InvalidGitRepositoryError, NoSuchPathError):
        raise OrchestratorError(
            f"repository {label} at {source} is not a git repository", path=source
        ) from None
    if Path(repo.working_tree_dir or "").resolve() != source.resolve():
        # a plain folder inside another repository (e.g. repos/x inside the workspace repo)
        raise OrchestratorError(
            f"repository {label} at {source} is not a git repository", path=source
        )
    if not repo.head.is_valid():
        raise OrchestratorError(
            f"repository {label} at {source} has no commits; commit something first", path=source
        )
    return repo


def has_branch(repo: Repo, branch: str) -> bool:
    return any(head.name == branch for head in repo.heads)


def add_worktree(source: Path, path: Path, branch: str) -> None:
    """`git worktree add -b <branch> <path> HEAD`: a new branch, never a reset of an old one."""
    try:
        Git(source).worktree("add", "-q", "-b", branch, str(path), "HEAD")
    except GitCommandError as e:
        raise _fail(f"git worktree add {path}", source, e) from None


def remove_worktree(source: Path, path: Path, *, force: bool) -> None:
    args = ["remove", *(["--force"] if force else []), str(path)]
    try:
        Git(source).worktree(*args)
    except GitCommandError as e:
        raise _fail(f"git worktree remove {path}", source, e) from None


def prune(source: Path) -> None:
    try:
        Git(source).worktree("prune")
    except GitCommandError as e:
        raise _fail("git worktree prune", source, e) from None


def delete_branch(source: Path, branch: str) -> None:
    try:
        Git(source).branch("-D", branch)
    except GitCommandError as e:
        raise _fail(f"git branch -D {branch}", source, e) from None


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

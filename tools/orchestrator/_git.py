"""Git facts and worktree operations on one repository, through GitPython.

Each function runs at most one or two `git` processes (ref and reflog reads are pure Python),
because create + terminate is measured against raw `git worktree` commands (bench/builders.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from git import Git, GitCommandError, InvalidGitRepositoryError, NoSuchPathError, Repo
from git.refs.log import RefLog

from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._results import Commit, WorktreeDirt, WorktreeStatus

_TRACKING = re.compile(
    r"## (?P<branch>\S+?)(?:\.\.\.(?P<upstream>\S+))?(?: \[(?P<track>[^\]]*)\])?$"
)


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


def _status(worktree: Path) -> tuple[str | None, str | None, int | None, int | None, list[str]]:
    """Branch, upstream, ahead, behind and the raw -z entries, from one `git status`."""
    out = Git(worktree).status("--porcelain=v1", "-b", "-z", "--untracked-files=all")
    entries = out.split("\0")
    header, entries = entries[0], [e for e in entries[1:] if e]
    branch = upstream = None
    ahead = behind = None
    match = _TRACKING.match(header)
    if match:
        branch = match["branch"]
        if branch.startswith("HEAD (no branch)") or branch == "HEAD":
            branch = None
        upstream = match["upstream"]
        if upstream:
            track = match["track"] or ""
            ahead = int(m[1]) if (m := re.search(r"ahead (\d+)", track)) else 0
            behind = int(m[1]) if (m := re.search(r"behind (\d+)", track)) else 0
    return branch, upstream, ahead, behind, entries


def _changes(entries: list[str]) -> tuple[list[str], list[str], list[str]]:
    modified: list[str] = []
    staged: list[str] = []
    untracked: list[str] = []
    skip = False
    for entry in entries:
        if skip:  # the original path of a rename or copy
            skip = False
            continue
        x, y, name = entry[0], entry[1], entry[3:]
        if x == "?":
            untracked.append(name)
            continue
        if x not in " !":
            staged.append(name)
            skip = x in "RC"
        if y not in " !":
            modified.append(name)
    return modified, staged, untracked


def stashes(source: Path, branch: str) -> list[str]:
    """Stash entries made on `branch`, read from the stash reflog (stash@{0} is the newest)."""
    common = Path(Repo(source).common_dir)
    log = common / "logs" / "refs" / "stash"
    if not log.is_file():
        return []
    entries = list(reversed(RefLog.from_file(str(log))))
    pattern = re.compile(rf"^(WIP on|On) {re.escape(branch)}:")
    return [
        f"stash@{{{i}}}: {e.message}" for i, e in enumerate(entries) if pattern.match(e.message)
    ]


def unpushed(worktree: Path, branch: str | None) -> list[Commit]:
    """Commits checked out in `worktree` that are on no remote and on no other local branch."""
    excludes = [f"--exclude={branch}"] if branch else []
    out = Git(worktree).log(
        "--format=%h%x00%s%x00%cI", "HEAD", "--not", "--remotes", *excludes, "--branches"
    )
    return [Commit(*line.split("\0", 2)) for line in out.splitlines() if line]


def dirt(repo: str, worktree: Path, source: Path, builder_branch: str) -> WorktreeDirt:
    """Everything in one worktree that removing it would lose."""
    try:
        branch, _, _, _, entries = _status(worktree)
        modified, staged, untracked = _changes(entries)
        commits = unpushed(worktree, branch)
        stash = stashes(source, branch or builder_branch)
    except GitCommandError as e:
        raise _fail("git status", worktree, e) from None
    return WorktreeDirt(
        repo=repo,
        path=worktree,
        branch=branch,
        modified=tuple(modified),
        staged=tuple(staged),
        untracked=tuple(untracked),
        unpushed=tuple(commits),
        stashes=tuple(stash),
    )


def status(repo: str, worktree: Path) -> WorktreeStatus:
    if not is_worktree(worktree):
        return WorktreeStatus(repo, worktree, None, clean=False, problem="not a git worktree")
    try:
        branch, upstream, ahead, behind, entries = _status(worktree)
        modified, staged, untracked = _changes(entries)
        last = Git(worktree).log("-1", "--format=%h%x00%s%x00%cI")
    except GitCommandError as e:
        detail = (e.stderr or str(e)).strip()
        return WorktreeStatus(repo, worktree, None, clean=False, problem=f"git failed: {detail}")
    return WorktreeStatus(
        repo=repo,
        path=worktree,
        branch=branch,
        clean=not (modified or staged or untracked),
        modified=len(modified),
        staged=len(staged),
        untracked=len(untracked),
        upstream=upstream,
        ahead=ahead,
        behind=behind,
        last_commit=Commit(*last.split("\0", 2)) if last else None,
    )


def remotes(source: Path) -> list[str]:
    return [r.name for r in Repo(source).remotes]


def push(source: Path, remote: str, branch: str) -> tuple[int, str]:
    """Push `branch` to `remote` with upstream tracking; (commits the remote lacked, git output)."""
    git = Git(source)
    count = int(git.rev_list("--count", f"refs/heads/{branch}", "--not", f"--remotes={remote}"))
    out = git.push("--porcelain", "-u", remote, f"refs/heads/{branch}:refs/heads/{branch}")
    return count, out.strip()

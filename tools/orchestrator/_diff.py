"""What a builder changed, to look at before approving: per worktree, the uncommitted work
(staged, unstaged and untracked, against HEAD) apart from the commits no remote or other branch
has yet, as a short summary and, on request, the full patch. Read-only: git diff and log only."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tools.orchestrator import _git
from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._inspect import worktrees_in

# git's empty tree: the base of a branch whose first commit is itself unpushed
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# a summary is read on a phone: past this many files per section the rest is counted only
SUMMARY_FILES = 15


@dataclass(frozen=True)
class FileChange:
    path: str
    added: int | None  # None for a binary file
    removed: int | None
    untracked: bool = False

    def render(self) -> str:
        if self.added is None:
            counts = "binary"
        elif self.untracked:
            counts = f"+{self.added} (new, untracked)"
        else:
            counts = f"+{self.added} −{self.removed}"
        return f"{self.path}  {counts}"


@dataclass(frozen=True)
class ChangeSet:
    """One side of a worktree's changes: uncommitted, or committed but not pushed."""

    files: tuple[FileChange, ...] = ()
    commits: int = 0
    patch: str = ""

    @property
    def added(self) -> int:
        return sum(f.added or 0 for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed or 0 for f in self.files)

    def headline(self) -> str:
        n = len(self.files)
        files = f"{n} file{'s' if n != 1 else ''}, +{self.added} −{self.removed}"
        if self.commits:
            return f"{self.commits} commit{'s' if self.commits != 1 else ''}, {files}"
        return files


@dataclass(frozen=True)
class WorktreeDiff:
    repo: str
    path: Path
    branch: str
    uncommitted: ChangeSet
    unpushed: ChangeSet

    @property
    def changed(self) -> bool:
        return bool(self.uncommitted.files or self.unpushed.files or self.unpushed.commits)


@dataclass(frozen=True)
class BuilderDiff:
    name: str
    worktrees: tuple[WorktreeDiff, ...]

    @property
    def changed(self) -> bool:
        return any(w.changed for w in self.worktrees)

    def render(self, limit: int = SUMMARY_FILES) -> str:
        """The short summary: per worktree, files with +/− lines, the two kinds apart."""
        lines = [f"{self.name}: " + ("changes" if self.changed else "no changes")]
        for w in self.worktrees:
            if not w.changed:
                lines.append(f"  {w.repo} ({w.branch}): no changes")
                continue
            lines.append(f"  {w.repo} ({w.branch})")
            for label, side in (
                ("uncommitted", w.uncommitted),
                ("committed, not pushed", w.unpushed),
            ):
                if not side.files and not side.commits:
                    continue
                lines.append(f"    {label}: {side.headline()}")
                lines.extend(f"      {f.render()}" for f in side.files[:limit])
                if len(side.files) > limit:
                    lines.append(f"      … and {len(side.files) - limit} more files")
        return "\n".join(lines)

    def patch(self) -> str:
        """The full patch, every worktree and both kinds, each under a header naming it."""
        parts: list[str] = []
        for w in self.worktrees:
            for label, side in (
                ("committed, not pushed", w.unpushed),
                ("uncommitted", w.uncommitted),
            ):
                if side.patch:
                    parts.append(f"# {w.repo} ({w.branch}): {label}\n{side.patch.rstrip()}\n")
        return "\n".join(parts)


def _git_out(worktree: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    if args[0] == "diff":  # the output is parsed and sent as text: no colour, no diff driver
        args = ("diff", "--no-ext-diff", "--no-color", *args[1:])
    done = subprocess.run(["git", *args], cwd=worktree, capture_output=True, check=False)
    if done.returncode not in ok:
        detail = done.stderr.decode(errors="replace").strip()
        raise OrchestratorError(f"git {args[0]} failed in {worktree}: {detail}", path=worktree)
    return done.stdout.decode(errors="replace")


def _numstat_z(out: str) -> list[FileChange]:
    """`--numstat -z`: a rename is `a\\tr\\t\\0old\\0new\\0`; it is shown under the new name."""
    changes: list[FileChange] = []
    fields = out.split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if not entry:
            continue
        added, removed, path = entry.split("\t", 2)
        if path == "":  # a rename or copy: the two names follow
            path = f"{fields[i]} → {fields[i + 1]}"
            i += 2
        binary = added == "-"
        changes.append(
            FileChange(path, None if binary else int(added), None if binary else int(removed))
        )
    return changes


def _untracked(worktree: Path, with_patch: bool) -> tuple[list[FileChange], str]:
    names = [
        n
        for n in _git_out(worktree, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
        if n
    ]
    changes: list[FileChange] = []
    patches: list[str] = []
    for name in sorted(names):
        # `diff --no-index` against nothing reads the file as git would, binary detection included
        out = _git_out(
            worktree, "diff", "--no-index", "--numstat", "-z", "--", "/dev/null", name, ok=(0, 1)
        )
        count = out.split("\t", 1)[0]
        added = None if count == "-" else int(count or 0)
        changes.append(FileChange(name, added, 0 if added is not None else None, untracked=True))
        if with_patch:
            patches.append(
                _git_out(worktree, "diff", "--no-index", "--", "/dev/null", name, ok=(0, 1))
            )
    return changes, "".join(patches)


def _uncommitted(worktree: Path, with_patch: bool) -> ChangeSet:
    files = _numstat_z(_git_out(worktree, "diff", "HEAD", "--numstat", "-z", "-M"))
    untracked, untracked_patch = _untracked(worktree, with_patch)
    patch = _git_out(worktree, "diff", "HEAD", "-M") + untracked_patch if with_patch else ""
    return ChangeSet(tuple(files + untracked), 0, patch)


def _unpushed(worktree: Path, with_patch: bool) -> ChangeSet:
    # the commits terminate counts as unpushed (the same rule as _dirt): on no remote and no
    # other local branch
    branch = _git.checked_out_branch(worktree)
    excludes = [f"--exclude={branch}"] if branch else []
    commits = _git_out(
        worktree, "rev-list", "HEAD", "--not", "--remotes", *excludes, "--branches"
    ).split()
    if not commits:
        return ChangeSet()
    parents = _git_out(worktree, "rev-list", "--parents", "-n", "1", commits[-1]).split()
    base = parents[1] if len(parents) > 1 else _EMPTY_TREE
    files = _numstat_z(_git_out(worktree, "diff", base, "HEAD", "--numstat", "-z", "-M"))
    patch = _git_out(worktree, "diff", base, "HEAD", "-M") if with_patch else ""
    return ChangeSet(tuple(files), len(commits), patch)


def worktree_diff(repo: str, worktree: Path, branch: str, *, patch: bool = False) -> WorktreeDiff:
    return WorktreeDiff(
        repo, worktree, branch, _uncommitted(worktree, patch), _unpushed(worktree, patch)
    )


def builder_diff(
    root: Path, builder: Path, repo: str | None = None, *, patch: bool = False
) -> BuilderDiff:
    """The changes in builder directory `builder` of workspace `root`, optionally one repo's."""
    if not builder.is_dir():
        raise OrchestratorError(
            f"no builder named {builder.name}: {builder} does not exist", path=builder
        )
    worktrees, _ = worktrees_in(root, builder)
    if repo is not None:
        worktrees = tuple(w for w in worktrees if w.repo == repo)
        if not worktrees:
            raise OrchestratorError(
                f"builder {builder.name} has no worktree for repository {repo}", path=builder
            )
    return BuilderDiff(
        builder.name,
        tuple(worktree_diff(w.repo, w.path, w.branch, patch=patch) for w in worktrees),
    )

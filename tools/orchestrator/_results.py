"""What the orchestrator returns: dataclasses a chat can render and an agent can send as JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Backend = Literal["native", "taskfile"]


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _short(path: Path) -> str:
    """`.builders/...`: the part of a path a chat reader needs."""
    parts = path.parts
    return str(Path(*parts[parts.index(".builders") :])) if ".builders" in parts else str(path)


class _Result:
    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (paths as strings, tuples as lists)."""
        return _plain(self)


@dataclass(frozen=True)
class Commit(_Result):
    sha: str
    subject: str
    date: str = ""

    def __str__(self) -> str:
        return f"{self.sha} {self.subject}"


@dataclass(frozen=True)
class Worktree(_Result):
    """One git worktree of a builder: `repo` is `workspace-root` or a name under `repos/`."""

    repo: str
    path: Path
    branch: str
    source: Path  # the repository this is a worktree of


@dataclass(frozen=True)
class Session(_Result):
    """The builder's OpenCode session, found again by its directory."""

    id: str
    status: str = "idle"  # idle | busy | retry


@dataclass(frozen=True)
class BuilderPlan(_Result):
    """A builder that can be created now: checked, not yet made."""

    name: str
    project_id: str
    title: str
    path: Path
    branch: str
    worktrees: tuple[Worktree, ...]

    def render(self) -> str:
        repos = ", ".join(w.repo for w in self.worktrees)
        return f"create builder {self.name} for {self.project_id} {self.title!r}: {repos}"


@dataclass(frozen=True)
class Builder(_Result):
    name: str
    project_id: str
    path: Path
    branch: str
    worktrees: tuple[Worktree, ...]
    backend: Backend
    session: Session | None = None
    session_note: str = ""  # why there is no session, when there is none
    output: str = ""  # what `task builder:init` printed (taskfile back-end)

    def render(self) -> str:
        lines = [f"builder {self.name} created at {self.path} (branch {self.branch})"]
        lines += [f"  {w.repo}: {w.path}" for w in self.worktrees]
        lines.append(
            f"  OpenCode session {self.session.id}" if self.session else f"  {self.session_note}"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class WorktreeDirt(_Result):
    """Everything in one worktree that terminating would lose, and its tracking state."""

    repo: str
    path: Path
    branch: str | None
    modified: tuple[str, ...] = ()
    staged: tuple[str, ...] = ()
    untracked: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # ignored by git, not regenerable: a .env, notes, data
    hidden: tuple[str, ...] = ()  # edited though marked assume-unchanged or skip-worktree
    unpushed: tuple[Commit, ...] = ()  # commits on the branch that are on no remote
    stashes: tuple[str, ...] = ()
    regenerable: tuple[str, ...] = ()  # ignored and made again by a build: never blocks
    upstream: str | None = None
    ahead: int | None = None  # None when the branch has no upstream
    behind: int | None = None
    hashes: tuple[tuple[str, str], ...] = ()  # (path, sha256) of the files that would go

    @property
    def clean(self) -> bool:
        return not (
            self.modified
            or self.staged
            or self.untracked
            or self.ignored
            or self.hidden
            or self.unpushed
            or self.stashes
        )

    def lost(self) -> list[tuple[str, tuple[str, ...]]]:
        """(label, items) for each kind of work that would be lost, in report order."""
        return [
            (label, items)
            for label, items in (
                ("modified", self.modified),
                ("staged", self.staged),
                ("untracked", self.untracked),
                ("ignored", self.ignored),
                ("edited, marked unchanged", self.hidden),
                ("unpushed commit", tuple(str(c) for c in self.unpushed)),
                ("stash", self.stashes),
            )
            if items
        ]

    def render(self) -> list[str]:
        if self.clean:
            return [f"{self.repo}: clean"]
        lines = [f"{self.repo}:"]
        for label, items in self.lost():
            lines += [f"  {label}: {item}" for item in items]
        return lines


@dataclass(frozen=True)
class DirtyReport(_Result):
    """What terminating a builder would lose: the one report `status` and `terminate` share."""

    name: str
    worktrees: tuple[WorktreeDirt, ...]
    stray: tuple[str, ...] = ()  # files in the builder directory outside every worktree
    stray_hashes: tuple[tuple[str, str], ...] = ()
    partial: str | None = None  # why the builder is half-made (an interrupted create)
    # sha256 over every name and content hash above: the force card's precondition
    fingerprint: str | None = None

    @property
    def clean(self) -> bool:
        return not self.stray and all(w.clean for w in self.worktrees)

    def render(self) -> str:
        lines = [f"partial builder: {self.partial}"] if self.partial else []
        lines += [line for w in self.worktrees for line in w.render()]
        lines += [f"outside any worktree: {item}" for item in self.stray]
        return "\n".join(lines)


@dataclass(frozen=True)
class TerminateResult(_Result):
    name: str
    done: bool
    report: DirtyReport
    refused: str | None = None
    forced: bool = False
    removed: tuple[Path, ...] = ()
    branches_kept: tuple[str, ...] = ()  # "repo: builder/<name>"; commits stay reachable
    session: Session | None = None
    session_aborted: bool = False
    output: str = ""
    changed: bool = False  # refused: the work differs from the fingerprint it was approved for
    archive: Path | None = None  # what a forced terminate discarded, kept here
    restore: str = ""  # the shell line that puts it back
    retention_days: int = 0

    def render(self) -> str:
        if not self.done:
            return f"refused to terminate {self.name}: {self.refused}\n{self.report.render()}"
        lines = [f"builder {self.name} terminated" + (" (forced)" if self.forced else "")]
        if self.archive:
            days = self.retention_days
            lines.append(f"  kept what was discarded in {self.archive} ({days} days)")
            lines.append(f"  restore with: {self.restore}")
        lines += [f"  removed {p}" for p in self.removed]
        if self.branches_kept:
            branch = self.branches_kept[0].split(": ", 1)[1]
            repos = ", ".join(kept.split(": ", 1)[0] for kept in self.branches_kept)
            lines.append(f"  branch {branch} kept in {repos}")
        if self.session:
            verb = "aborted; history kept" if self.session_aborted else "history kept"
            lines.append(f"  OpenCode session {self.session.id} {verb}")
        return "\n".join(lines)


@dataclass(frozen=True)
class WorktreeStatus(_Result):
    repo: str
    path: Path
    branch: str | None
    clean: bool
    modified: int = 0
    staged: int = 0
    untracked: int = 0
    upstream: str | None = None
    ahead: int | None = None  # None when the branch has no upstream
    behind: int | None = None
    last_commit: Commit | None = None
    problem: str | None = None  # e.g. "not a git worktree"
    ignored: int = 0
    hidden: int = 0
    unpushed: int = 0
    stashes: int = 0

    def render_state(self) -> str:
        if self.clean:
            return "clean"
        counts = [
            (self.modified, "modified"),
            (self.staged, "staged"),
            (self.untracked, "untracked"),
            (self.ignored, "ignored"),
            (self.hidden, "edited though marked unchanged"),
            (self.unpushed, "unpushed commit"),
            (self.stashes, "stash"),
        ]
        return ", ".join(f"{n} {label}" for n, label in counts if n)


@dataclass(frozen=True)
class BuilderStatus(_Result):
    name: str
    project_id: str | None
    path: Path
    worktrees: tuple[WorktreeStatus, ...]
    session: Session | None = None
    session_note: str = ""
    stray: tuple[str, ...] = ()  # files in the builder directory outside every worktree
    partial: str | None = None  # why the builder is half-made (an interrupted create)

    @property
    def clean(self) -> bool:
        return not self.stray and all(w.clean for w in self.worktrees)

    def render(self) -> str:
        session = f", session {self.session.id} {self.session.status}" if self.session else ""
        branch = f"builder/{self.name}"
        if self.partial:
            state = f"partial: {self.partial}; `foreman builder terminate {self.name}` removes it"
        else:
            state = "clean" if self.clean else "dirty"
        lines = [f"{self.name} on {branch} ({state}{session})"]
        for w in self.worktrees:
            if w.problem:
                lines.append(f"  {w.repo}: {w.problem}")
                continue
            state = w.render_state()
            track = (
                f", {w.ahead} ahead {w.behind} behind {w.upstream}"
                if w.upstream
                else ", no upstream"
            )
            last = f", last {w.last_commit}" if w.last_commit else ""
            other = f" [on {w.branch or 'no branch'}]" if w.branch != branch else ""
            lines.append(f"  {w.repo}{other}: {state}{track}{last}")
        lines += [f"  outside any worktree: {item}" for item in self.stray]
        return "\n".join(lines)


@dataclass(frozen=True)
class BuilderOnProject(_Result):
    name: str
    project_id: str
    status: str


@dataclass(frozen=True)
class Orphan(_Result):
    path: Path
    reason: str


@dataclass(frozen=True)
class StaleWorktree(_Result):
    repo: str
    path: Path
    reason: str


@dataclass(frozen=True)
class ReconcileReport(_Result):
    """Where the project list and the disk disagree. Reported, never acted on."""

    builders_not_implementing: tuple[BuilderOnProject, ...] = ()
    implementing_without_builder: tuple[str, ...] = ()
    orphan_directories: tuple[Orphan, ...] = ()
    stale_worktrees: tuple[StaleWorktree, ...] = ()
    partial_builders: tuple[Orphan, ...] = ()  # left half-made by an interrupted create

    @property
    def in_sync(self) -> bool:
        return not (
            self.partial_builders
            or self.builders_not_implementing
            or self.implementing_without_builder
            or self.orphan_directories
            or self.stale_worktrees
        )

    def render(self) -> str:
        if self.in_sync:
            return "project list and builders agree"
        lines = [
            f"builder {b.name}: project {b.project_id} is {b.status}, not implementing"
            for b in self.builders_not_implementing
        ]
        lines += [
            f"project {p} is implementing but has no builder"
            for p in self.implementing_without_builder
        ]
        lines += [f"orphan {_short(o.path)}: {o.reason}" for o in self.orphan_directories]
        lines += [f"stale worktree {_short(s.path)}: {s.reason}" for s in self.stale_worktrees]
        lines += [
            f"partial builder {_short(p.path)}: {p.reason}; "
            f"`foreman builder terminate {p.path.name}` removes it"
            for p in self.partial_builders
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class Push(_Result):
    repo: str
    branch: str
    remote: str | None
    pushed: bool
    commits: int = 0  # commits the remote did not have
    detail: str = ""


@dataclass(frozen=True)
class SyncResult(_Result):
    name: str
    pushes: tuple[Push, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(p.pushed or p.remote is None for p in self.pushes)

    def render(self) -> str:
        lines = [f"sync {self.name}:"]
        for p in self.pushes:
            if p.remote is None:
                lines.append(f"  {p.repo}: not pushed, {p.detail}")
            elif p.pushed:
                lines.append(
                    f"  {p.repo}: pushed {p.branch} to {p.remote} ({p.commits} new commits)"
                )
            else:
                lines.append(f"  {p.repo}: push to {p.remote} failed: {p.detail}")
        return "\n".join(lines)

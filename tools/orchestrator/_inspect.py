"""Reading builders without changing them: per-worktree status, stale worktrees, pushes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from git import GitCommandError, Repo

from tools.orchestrator import _dirt, _git
from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._names import WORKSPACE_ROOT, builders_root
from tools.orchestrator._results import (
    BuilderOnProject,
    Orphan,
    Push,
    ReconcileReport,
    StaleWorktree,
    Worktree,
    WorktreeDirt,
    WorktreeStatus,
)
from tools.orchestrator._scan import match_project, read_marker
from tools.orchestrator._teardown import partial_reason

if TYPE_CHECKING:
    from tools.projectlist import Project


def source_path(root: Path, repo: str) -> Path:
    """The repository a worktree named `repo` comes from."""
    return root if repo == WORKSPACE_ROOT else root / "repos" / repo


def worktrees_in(root: Path, path: Path) -> tuple[tuple[Worktree, ...], tuple[str, ...]]:
    """The worktrees inside a builder directory, and the entries that are not worktrees."""
    worktrees: list[Worktree] = []
    stray: list[str] = []
    for entry in sorted(path.iterdir(), key=_workspace_root_first):
        is_dir = entry.is_dir() and not entry.is_symlink()
        if is_dir and _git.is_worktree(entry):
            source = _git.source_of(entry) or source_path(root, entry.name)
            branch = _git.checked_out_branch(entry)
            worktrees.append(Worktree(entry.name, entry, branch or "", source))
        elif is_dir and not any(p for p in entry.rglob("*") if not p.is_dir()):
            continue  # empty folders (a checkout that never started) hold nothing to lose
        else:
            stray.append(entry.name + ("/" if is_dir else ""))
    return tuple(worktrees), tuple(stray)


def _workspace_root_first(path: Path) -> tuple[bool, str]:
    return path.name != WORKSPACE_ROOT, path.name


def reconcile(root: Path, projects: Sequence[Project]) -> ReconcileReport:
    """Differences between the project list and the disk; reported, never acted on."""
    by_id = {p.id: p for p in projects}
    builders = builders_root(root)
    on_disk: dict[str, list[str]] = {}
    not_implementing: list[BuilderOnProject] = []
    orphans: list[Orphan] = []
    partial: list[Orphan] = []
    for entry in sorted(builders.iterdir()) if builders.is_dir() else []:
        if entry.name.startswith(".") and entry.name.endswith(".creating"):
            continue  # a creation marker, read with its builder
        project_id = match_project(entry.name, by_id)
        if not entry.is_dir() or entry.is_symlink():
            orphans.append(Orphan(entry, "not a directory"))
            continue
        worktrees, _ = worktrees_in(root, entry)
        reason = partial_reason(worktrees, read_marker(entry))
        if reason and project_id is not None:
            partial.append(Orphan(entry, reason))
        if project_id is None:
            holds = " and holds no worktree" if not worktrees else ""
            orphans.append(Orphan(entry, "matches no project in the project list" + holds))
        else:
            on_disk.setdefault(project_id, []).append(entry.name)
            status = by_id[project_id].status
            if status != "implementing":
                not_implementing.append(BuilderOnProject(entry.name, project_id, status))
    missing = tuple(p.id for p in projects if p.status == "implementing" and p.id not in on_disk)
    return ReconcileReport(
        builders_not_implementing=tuple(not_implementing),
        implementing_without_builder=missing,
        orphan_directories=tuple(orphans),
        stale_worktrees=tuple(stale_worktrees(root, builders)),
        partial_builders=tuple(partial),
    )


def worktree_status(
    w: Worktree, branch: str, regenerable: Sequence[str], unfinished: bool
) -> WorktreeStatus:
    try:
        d: WorktreeDirt = _dirt.dirt(
            w.repo, w.path, w.source, branch, regenerable, unfinished=unfinished
        )
        last = _git.last_commit(w.path)
    except (OrchestratorError, GitCommandError) as e:
        detail = str(e).strip()
        return WorktreeStatus(w.repo, w.path, None, clean=False, problem=f"git failed: {detail}")
    return WorktreeStatus(
        repo=w.repo,
        path=w.path,
        branch=d.branch,
        clean=d.clean,
        modified=len(d.modified),
        staged=len(d.staged),
        untracked=len(d.untracked),
        upstream=d.upstream,
        ahead=d.ahead,
        behind=d.behind,
        last_commit=last,
        ignored=len(d.ignored),
        hidden=len(d.hidden),
        unpushed=len(d.unpushed),
        stashes=len(d.stashes),
    )


def stale_worktrees(root: Path, builders: Path) -> list[StaleWorktree]:
    stale: list[StaleWorktree] = []
    sources = [(WORKSPACE_ROOT, root)]
    repos_dir = root / "repos"
    if repos_dir.is_dir():
        sources += [(p.name, p) for p in sorted(repos_dir.iterdir()) if (p / ".git").exists()]
    for repo, source in sources:
        try:
            entries = _git.list_worktrees(source)
        except GitCommandError:
            continue
        for entry in entries:
            if not entry.path.is_relative_to(builders):
                continue
            if entry.prunable or not entry.path.exists():
                stale.append(StaleWorktree(repo, entry.path, "directory gone, git still lists it"))
    # worktree directories whose git entry was pruned away
    for builder in sorted(builders.iterdir()) if builders.is_dir() else []:
        for sub in sorted(builder.iterdir()) if builder.is_dir() else []:
            if _git.is_worktree(sub) and _git.source_of(sub) is None:
                stale.append(StaleWorktree(sub.name, sub, "git no longer lists this worktree"))
    return stale


def push(worktree: Worktree) -> Push:
    branch = worktree.branch
    if not branch:
        return Push(worktree.repo, "", None, False, detail="no branch checked out")
    remotes = _git.remotes(worktree.source)
    if not remotes:
        return Push(worktree.repo, branch, None, False, detail="no remote configured")
    configured = (
        Repo(worktree.source).config_reader().get_value(f'branch "{branch}"', "remote", default="")
    )
    remote = (
        str(configured)
        if configured in remotes
        else ("origin" if "origin" in remotes else remotes[0])
    )
    try:
        commits, _ = _git.push(worktree.source, remote, branch)
    except GitCommandError as e:
        detail = (e.stderr or str(e)).strip().splitlines()[-1:] or [""]
        return Push(worktree.repo, branch, remote, False, detail=detail[0].strip())
    return Push(worktree.repo, branch, remote, True, commits=commits)

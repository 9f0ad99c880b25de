"""Taking a builder down: what stops it (locks, a create under way), whether it is half-made,
the content fingerprint of what would go, and the removal steps after the checks pass."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

from git import GitCommandError, Repo

from tools.orchestrator import _dirt, _git
from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._results import DirtyReport, Worktree
from tools.orchestrator._scan import CreationMarker


def partial_reason(worktrees: tuple[Worktree, ...], marker: CreationMarker | None) -> str | None:
    """Why a builder folder is half-made, or None when it is whole."""
    if marker is not None and marker.running:
        return f"being created right now (process {marker.pid})"
    if marker is not None:
        return "its create was interrupted before every worktree was made"
    if not worktrees:
        return "holds no worktree"
    return None


def blockers(worktrees: tuple[Worktree, ...], marker: CreationMarker | None) -> list[str]:
    """Why some worktree cannot go now; checked for all before any is removed."""
    problems = []
    if marker is not None and marker.running:
        problems.append(f"it is being created right now (process {marker.pid})")
    for w in worktrees:
        gitdir = _git.worktree_gitdir(w.path)
        if gitdir is None:
            continue
        locked = gitdir / "locked"
        if locked.is_file():
            why = locked.read_text(errors="replace").strip()
            problems.append(
                f"{w.repo} is locked{f' ({why})' if why else ''}: unlock it with "
                f"git -C {w.source} worktree unlock {w.path}"
            )
        if (gitdir / "index.lock").exists():
            problems.append(f"{w.repo} is busy: a git command is running in it")
    return problems


def undo_branches(marker: CreationMarker) -> None:
    """An interrupted create's branches, deleted where they still point at their start commit
    (nothing was committed on them), so the same create can run again."""
    for key, head in marker.heads.items():
        source = marker.sources.get(key)
        if not source:
            continue
        try:
            repo = Repo(source)
            found = next((h for h in repo.heads if h.name == marker.branch), None)
            if found is not None and found.commit.hexsha == head:
                _git.delete_branch(Path(source), marker.branch)
        except (OrchestratorError, GitCommandError, ValueError, OSError):
            continue  # a branch that moved, or a repository gone, stays as it is


def with_content(report: DirtyReport, path: Path) -> DirtyReport:
    """The report with a sha256 of every file that would go, and one fingerprint of it all."""
    trees = []
    for tree in report.worktrees:
        if tree.clean:
            trees.append(tree)
            continue
        names = (*tree.modified, *tree.staged, *tree.untracked, *tree.ignored, *tree.hidden)
        trees.append(dataclasses.replace(tree, hashes=_dirt.content_hashes(tree.path, names)))
    stray_hashes = _dirt.content_hashes(path, report.stray)
    material = {
        "worktrees": [
            {
                "repo": t.repo,
                "lost": t.lost(),
                "unpushed": [c.sha for c in t.unpushed],
                "hashes": t.hashes,
            }
            for t in trees
        ],
        "stray": report.stray,
        "stray_hashes": stray_hashes,
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return dataclasses.replace(
        report, worktrees=tuple(trees), stray_hashes=stray_hashes, fingerprint=digest
    )


def default_archive_dir(root: Path) -> Path:
    """Inside the workspace repository's git directory: never committed, never in a worktree."""
    return _git.common_dir(root) / "foreman" / "archives"


def repos_pointing_into(root: Path, path: Path) -> list[Path]:
    """Repos (workspace, repos/*) with a worktree entry inside `path`, read from their files."""
    candidates = [root]
    repos_dir = root / "repos"
    if repos_dir.is_dir():
        candidates += sorted(p for p in repos_dir.iterdir() if (p / ".git").is_dir())
    found = []
    for repo in candidates:
        for gitdir in (repo / ".git" / "worktrees").glob("*/gitdir"):
            try:
                target = Path(gitdir.read_text().strip())
            except OSError:
                continue
            if target.is_relative_to(path):
                found.append(repo)
                break
    return found


def remove_directory(path: Path, everything: bool, output: str) -> None:
    if not path.exists():
        return
    left = [p for p in path.rglob("*") if not p.is_dir()]
    if left and not everything:
        raise OrchestratorError(
            f"`task builder:cleanup` left files in {path}: "
            + ", ".join(str(p.relative_to(path)) for p in left[:5]),
            path=path,
            output=output,
        )
    shutil.rmtree(path)

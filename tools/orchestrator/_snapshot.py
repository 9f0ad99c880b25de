"""A builder's worktrees as they are at one moment, to tell what one turn changed.

Each worktree's content (tracked and untracked files, ignored ones left out) is written as a git
tree from a private copy of its index (`GIT_INDEX_FILE`): the worktree's own index, HEAD, branch
and files are untouched, and a commit made during the turn changes nothing about the comparison
(trees are compared, not commits). The only trace is unreferenced objects in the repository's
object store, which `git gc` prunes in time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tools.orchestrator._diff import FileChange, _git_out, _numstat_z
from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._inspect import worktrees_in


@dataclass(frozen=True)
class BuilderSnapshot:
    """The tree of each worktree of a builder when the snapshot was taken."""

    name: str
    trees: tuple[tuple[str, Path, str], ...]  # (repo, worktree, tree id)


@dataclass(frozen=True)
class SnapshotChanges:
    """What changed in each worktree between a snapshot and now (worktrees with changes only)."""

    repos: tuple[tuple[str, tuple[FileChange, ...]], ...]

    @property
    def files(self) -> int:
        return sum(len(files) for _, files in self.repos)

    @property
    def added(self) -> int:
        return sum(f.added or 0 for _, files in self.repos for f in files)

    @property
    def removed(self) -> int:
        return sum(f.removed or 0 for _, files in self.repos for f in files)


def worktree_tree(worktree: Path) -> str:
    """The id of a git tree holding the worktree's files as they are now (not ignored ones)."""
    index = Path(_git_out(worktree, "rev-parse", "--path-format=absolute", "--git-path", "index"))
    with tempfile.TemporaryDirectory(prefix="foreman-snapshot-") as scratch:
        private = Path(scratch) / "index"
        if index.is_file():
            # a copy keeps git's stat cache: unchanged files are not read again
            shutil.copyfile(index, private)
        env = {**os.environ, "GIT_INDEX_FILE": str(private)}
        for args in (["add", "--all", "--", "."], ["write-tree"]):
            done = subprocess.run(
                ["git", *args], cwd=worktree, env=env, capture_output=True, check=False
            )
            if done.returncode != 0:
                detail = done.stderr.decode(errors="replace").strip()
                raise OrchestratorError(
                    f"git {args[0]} failed in {worktree}: {detail}", path=worktree
                )
        return done.stdout.decode().strip()


def snapshot_builder(root: Path, builder: Path) -> BuilderSnapshot:
    """Every worktree of builder directory `builder` (of workspace `root`) as a tree, now."""
    worktrees, _ = worktrees_in(root, builder)
    return BuilderSnapshot(
        builder.name, tuple((w.repo, w.path, worktree_tree(w.path)) for w in worktrees)
    )


def changes_since(snapshot: BuilderSnapshot) -> SnapshotChanges:
    """Files changed in each worktree since `snapshot`, with +/− lines (renames followed)."""
    repos: list[tuple[str, tuple[FileChange, ...]]] = []
    for repo, worktree, before in snapshot.trees:
        if not worktree.is_dir():
            continue
        after = worktree_tree(worktree)
        if after == before:
            continue
        out = _git_out(worktree, "diff", before, after, "--numstat", "-z", "-M")
        files = tuple(_numstat_z(out))
        if files:
            repos.append((repo, files))
    return SnapshotChanges(tuple(repos))

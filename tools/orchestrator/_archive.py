"""What a forced terminate keeps: an archive of everything it is about to discard.

`<archive dir>/<builder>-<UTC time>.tar.gz` holds each worktree's uncommitted, untracked, ignored
and hidden-edit files at their own paths (`<repo>/<path>`), the files outside any worktree, and
under `.foreman-archive/` a manifest, the staged changes and each stash as patches. Extracting
it into the builder folder, after re-adding the worktrees on their kept branches, puts every file
back. Archives older than the retention period are pruned when a new one is written.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._results import DirtyReport, Worktree

DEFAULT_RETENTION_DAYS = 30
META = ".foreman-archive"


@dataclass(frozen=True)
class Archive:
    path: Path
    restore: str  # one shell line that puts the builder back, files included


def _git_bytes(cwd: Path, *args: str) -> bytes:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    return done.stdout if done.returncode == 0 else b""


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _add_path(tar: tarfile.TarFile, full: Path, name: str) -> None:
    if full.exists() or full.is_symlink():
        tar.add(full, arcname=name, recursive=True)


def write_archive(
    archive_dir: Path,
    builder: Path,
    report: DirtyReport,
    worktrees: tuple[Worktree, ...],
) -> Archive:
    """Archive what terminating `builder` would discard; refused (nothing removed) on failure."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = archive_dir / f"{report.name}-{stamp}.tar.gz"
    partial = target.with_name(target.name + ".partial")
    try:
        archive_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # it may hold secrets (.env): readable by its owner only
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            by_repo = {w.repo: w for w in worktrees}
            for tree in report.worktrees:
                for rel in (*tree.modified, *tree.staged, *tree.untracked, *tree.ignored,
                            *tree.hidden):  # fmt: skip
                    _add_path(tar, tree.path / rel.rstrip("/"), f"{tree.repo}/{rel.rstrip('/')}")
                if tree.staged:
                    staged = _git_bytes(tree.path, "diff", "--cached", "--binary")
                    _add_bytes(tar, f"{META}/{tree.repo}.staged.patch", staged)
                source = by_repo[tree.repo].source if tree.repo in by_repo else tree.path
                for label in tree.stashes:
                    ref = label.split(":", 1)[0]
                    patch = _git_bytes(
                        source, "stash", "show", "-p", "--binary", "--include-untracked", ref
                    )
                    _add_bytes(tar, f"{META}/{tree.repo}.{ref}.patch", patch)
            for rel in report.stray:
                _add_path(tar, builder / rel.rstrip("/"), rel.rstrip("/"))
            manifest = {
                "builder": report.name,
                "path": str(builder),
                "archived": stamp,
                "worktrees": [
                    {"repo": w.repo, "source": str(w.source), "branch": w.branch} for w in worktrees
                ],
                "report": report.to_dict(),
            }
            _add_bytes(tar, f"{META}/manifest.json", json.dumps(manifest, indent=2).encode())
        os.replace(partial, target)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise OrchestratorError(
            f"could not archive {report.name} into {archive_dir}: {e.strerror or e}; "
            "nothing was removed",
            path=archive_dir,
        ) from None
    return Archive(target, restore_command(target, builder, worktrees))


def restore_command(archive: Path, builder: Path, worktrees: tuple[Worktree, ...]) -> str:
    q = shlex.quote
    steps = [
        f"git -C {q(str(w.source))} worktree add {q(str(w.path))} {q(w.branch)}"
        for w in worktrees
        if w.branch
    ]
    steps.append(f"mkdir -p {q(str(builder))}")
    steps.append(f"tar -xzf {q(str(archive))} -C {q(str(builder))} --exclude={META}")
    return " && ".join(steps)


def prune_archives(archive_dir: Path, retention_days: int, now: float | None = None) -> list[Path]:
    """Remove archives older than `retention_days`; the paths removed."""
    cutoff = (time.time() if now is None else now) - retention_days * 86400
    removed = []
    for path in sorted(archive_dir.glob("*.tar.gz")) if archive_dir.is_dir() else []:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError:
            continue  # another process pruned it first
    return removed

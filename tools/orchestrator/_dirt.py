"""What removing one worktree would lose: everything a person made in it, not only what
`git status` shows.

Besides modified, staged and untracked files, unpushed commits and stashes, that is: files git
ignores (the repo's .gitignore, core.excludesFile, info/exclude) unless they are regenerable
(node_modules/, .venv/, ...), and edits to files marked assume-unchanged or skip-worktree, which
`git status` hides; those are compared by content with the index.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from git.refs.log import RefLog

from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._git import common_dir
from tools.orchestrator._results import Commit, WorktreeDirt

# Ignored paths that a build or an install makes again; they never block a terminate.
DEFAULT_REGENERABLE: tuple[str, ...] = (
    "node_modules/",
    ".venv/",
    "__pycache__/",
    "dist/",
    "build/",
    "target/",
)

_TRACKING = re.compile(
    r"## (?P<branch>\S+?)(?:\.\.\.(?P<upstream>\S+))?(?: \[(?P<track>[^\]]*)\])?$"
)
_STATUS = ["status", "--porcelain=v1", "-b", "-z", "--untracked-files=all", "--ignored=matching"]
# An index this large is scanned by git itself, faster than Python walks it entry by entry.
_PYTHON_INDEX_LIMIT = 5000


def is_regenerable(path: str, patterns: Sequence[str]) -> bool:
    """`a/node_modules/`, `src/__pycache__/m.pyc`: a pattern ending in '/' names a directory
    anywhere on the path; any other pattern matches the file name or the whole path."""
    parts = path.rstrip("/").split("/")
    directories = parts if path.endswith("/") else parts[:-1]
    for pattern in patterns:
        if pattern.endswith("/"):
            name = pattern.rstrip("/")
            if any(fnmatch(part, name) for part in directories):
                return True
        elif fnmatch(parts[-1], pattern) or fnmatch(path.rstrip("/"), pattern):
            return True
    return False


def _start(worktree: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["git", *args], cwd=worktree, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _finish(process: subprocess.Popen[bytes], what: str, worktree: Path) -> str:
    out, err = process.communicate()
    if process.returncode != 0:
        detail = err.decode(errors="replace").strip()
        raise OrchestratorError(f"{what} failed in {worktree}: {detail}", path=worktree)
    return out.decode(errors="surrogateescape")


@dataclass
class _Tracking:
    """The branch line of `git status -b`."""

    branch: str | None = None
    upstream: str | None = None
    ahead: int | None = None  # None when the branch has no upstream
    behind: int | None = None


def _parse_status(out: str) -> tuple[_Tracking, dict[str, list[str]]]:
    entries = out.split("\0")
    header, entries = entries[0], [e for e in entries[1:] if e]
    tracking = _Tracking()
    if match := _TRACKING.match(header):
        branch = match["branch"]
        no_branch = branch.startswith("HEAD (no branch)") or branch == "HEAD"
        tracking.branch = None if no_branch else branch
        if match["upstream"]:
            track = match["track"] or ""
            tracking.upstream = match["upstream"]
            tracking.ahead = int(m[1]) if (m := re.search(r"ahead (\d+)", track)) else 0
            tracking.behind = int(m[1]) if (m := re.search(r"behind (\d+)", track)) else 0
    found: dict[str, list[str]] = {
        k: [] for k in ("modified", "staged", "untracked", "ignored", "deleted")
    }
    skip = False
    for entry in entries:
        if skip:  # the original path of a rename or copy
            skip = False
            continue
        x, y, name = entry[0], entry[1], entry[3:]
        if x == "?":
            found["untracked"].append(name)
        elif x == "!":
            found["ignored"].append(name)
        else:
            if x != " ":
                found["staged"].append(name)
                skip = x in "RC"
            if y == "D" and x == " ":
                found["deleted"].append(name)
            if y != " ":
                found["modified"].append(name)
    return tracking, found


def _flagged_in_index(index: Path) -> list[tuple[str, str]] | None:
    """(path, blob id) of stage-0 entries marked assume-unchanged or skip-worktree, read from the
    index file (formats 2 and 3); None when git must be asked (format 4, split or large index)."""
    try:
        data = index.read_bytes()
    except FileNotFoundError:
        return []
    if len(data) < 12 or data[:4] != b"DIRC":
        return None
    version, count = int.from_bytes(data[4:8], "big"), int.from_bytes(data[8:12], "big")
    if version not in (2, 3) or count > _PYTHON_INDEX_LIMIT:
        return None
    pos, found = 12, []
    for _ in range(count):
        flags = int.from_bytes(data[pos + 60 : pos + 62], "big")
        extended, head = 0, 62
        if flags & 0x4000:  # an extended-flags word follows (format 3)
            extended, head = int.from_bytes(data[pos + 62 : pos + 64], "big"), 64
        start = pos + head
        length = flags & 0xFFF
        if length == 0xFFF:
            length = data.index(b"\0", start) - start
        if (flags & 0x8000 or extended & 0x4000) and (flags >> 12) & 3 == 0:
            name = data[start : start + length].decode("utf-8", "surrogateescape")
            found.append((name, data[pos + 40 : pos + 60].hex()))
        pos += (head + length + 8) & ~7
    while pos + 8 <= len(data) - 20:  # extensions; a split or sparse index keeps entries elsewhere
        signature, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "big")
        if signature in (b"link", b"sdir"):
            return None
        pos += 8 + size
    return found


def _flagged_by_git(worktree: Path) -> list[tuple[str, str]]:
    out = _finish(_start(worktree, "ls-files", "-v", "-s", "-z"), "git ls-files", worktree)
    found = []
    for entry in out.split("\0"):
        if not entry:
            continue
        meta, _, name = entry.partition("\t")
        tag, _, blob, stage = meta.split(" ")
        if (tag.islower() or tag == "S") and stage == "0":
            found.append((name, blob))
    return found


def _gitdir(worktree: Path) -> Path | None:
    try:
        return Path((worktree / ".git").read_text().removeprefix("gitdir:").strip())
    except OSError:
        return None


def _checked_out_branch(worktree: Path) -> str | None:
    gitdir = _gitdir(worktree)
    try:
        head = (gitdir / "HEAD").read_text().strip() if gitdir else ""
    except OSError:
        return None
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: ") else None


def hidden_edits(worktree: Path) -> list[str]:
    """Files marked assume-unchanged or skip-worktree whose content differs from the index."""
    gitdir = _gitdir(worktree)
    flagged = _flagged_in_index(gitdir / "index") if gitdir else None
    if flagged is None:
        flagged = _flagged_by_git(worktree)
    # a skip-worktree file absent from disk is a sparse checkout, not an edit
    present = [(n, blob) for n, blob in flagged if (worktree / n).is_file()]
    if not present:
        return []
    out = _finish(
        _start(worktree, "hash-object", "--", *(n for n, _ in present)),
        "git hash-object",
        worktree,
    )
    return [n for (n, blob), now in zip(present, out.split(), strict=True) if now != blob]


def stashes(source: Path, branch: str) -> list[str]:
    """Stash entries made on `branch`, read from the stash reflog (stash@{0} is the newest)."""
    common = common_dir(source)
    log = common / "logs" / "refs" / "stash"
    if not log.is_file():
        return []
    entries = list(reversed(RefLog.from_file(str(log))))
    pattern = re.compile(rf"^(WIP on|On) {re.escape(branch)}:")
    return [
        f"stash@{{{i}}}: {e.message}" for i, e in enumerate(entries) if pattern.match(e.message)
    ]


def dirt(
    repo: str,
    worktree: Path,
    source: Path,
    builder_branch: str,
    regenerable: Sequence[str] = DEFAULT_REGENERABLE,
    *,
    unfinished: bool = False,
) -> WorktreeDirt:
    """Everything in one worktree that removing it would lose, from two concurrent git reads.

    `unfinished`: the worktree of an interrupted create, whose missing files are a checkout
    that never completed (their content is in the commit), not deletions someone made.
    """
    # the branch from the worktree's files, so both reads can start at once
    checked_out = _checked_out_branch(worktree)
    excludes = [f"--exclude={checked_out}"] if checked_out else []
    status = _start(worktree, *_STATUS)
    log = _start(
        worktree,
        "log",
        "--format=%h%x00%s%x00%cI",
        "HEAD",
        "--not",
        "--remotes",
        *excludes,
        "--branches",
    )
    tracking, found = _parse_status(_finish(status, "git status", worktree))
    branch = tracking.branch
    log_out = _finish(log, "git log", worktree)
    commits = [Commit(*line.split("\0", 2)) for line in log_out.splitlines() if line]
    modified = found["modified"]
    if unfinished:
        deleted = set(found["deleted"])
        modified = [m for m in modified if m not in deleted]
    ignored = found["ignored"]
    return WorktreeDirt(
        repo=repo,
        path=worktree,
        branch=branch,
        modified=tuple(modified),
        staged=tuple(found["staged"]),
        untracked=tuple(found["untracked"]),
        ignored=tuple(i for i in ignored if not is_regenerable(i, regenerable)),
        regenerable=tuple(i for i in ignored if is_regenerable(i, regenerable)),
        hidden=tuple(hidden_edits(worktree)),
        unpushed=tuple(commits),
        stashes=tuple(stashes(source, branch or builder_branch)),
        upstream=tracking.upstream,
        ahead=tracking.ahead,
        behind=tracking.behind,
    )


def content_hashes(base: Path, paths: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """sha256 of every file under `base` named by `paths` (folders walked), sorted by path."""
    hashes: dict[str, str] = {}
    for rel in paths:
        full = base / rel.rstrip("/")
        if full.is_dir() and not full.is_symlink():
            for folder, dirs, files in os.walk(full):
                dirs.sort()
                for file in sorted(files):
                    item = Path(folder) / file
                    hashes[str(item.relative_to(base))] = _hash_file(item)
        else:
            hashes[rel] = _hash_file(full)
    return tuple(sorted(hashes.items()))


def _hash_file(path: Path) -> str:
    if path.is_symlink():
        return "link:" + hashlib.sha256(os.readlink(path).encode()).hexdigest()
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return "deleted"
    except OSError as e:
        return f"unreadable: {e.strerror}"

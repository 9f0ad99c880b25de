"""What one builder turn changed, told with its "✅ Done": the turn's diffstat, and the files
the user would rather look at than read, attached.

"The turn's" is measured, not guessed: when a turn starts (just before the relay sends a chat's
message to an idle session, or when the session goes busy however it was prompted) each of the
builder's worktrees is snapshotted as a git tree (tools.orchestrator.snapshot_builder), and at
"Done" compared with a fresh one. Work that was already uncommitted before the turn is not
counted again, and a commit made during the turn changes nothing about the count.

Files attached: new or changed files under `out/` (in a worktree or in the builder's folder)
during the turn, and files the final reply names that exist in the builder's folder and are
made to be looked at (images, pdf, html, csv, logs). Bounded in count and size, with one line
for what was left out; read from the worktree when the Done is sent and stored nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.messages import OUTBOUND_FILE_LIMIT, OutboundFile, file_size, neutral_line
from assistant.relay import DoneExtra, Notification, Relay, TurnPhase
from tools.orchestrator import (
    BuilderSnapshot,
    FileChange,
    OrchestratorError,
    SnapshotChanges,
    builder_path,
    changes_since,
    snapshot_builder,
)

log = logging.getLogger(__name__)

OUT_FOLDER = "out"  # where a builder puts what it made for the user to look at
LOOK_AT = frozenset(
    {"png", "jpg", "jpeg", "gif", "webp", "svg", "pdf", "html", "htm", "csv", "tsv", "log"}
)
MAX_FILES = 5
MAX_TOTAL = 20 * 1024 * 1024
DIFFSTAT_FILES = 8  # files named in the Done; the rest are counted
OUT_SCAN_LIMIT = 500  # entries looked at under one out/ folder
# a snapshot taken before a prompt that never started a turn is not the start of a later one
PROMPT_FRESH_SECONDS = 120.0
_NAMED = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:" + "|".join(sorted(LOOK_AT)) + r"))\b",
    re.IGNORECASE,
)

OutState = dict[Path, tuple[int, int]]  # file -> (size, mtime_ns)


@dataclass(frozen=True)
class _Baseline:
    trees: BuilderSnapshot
    out: OutState
    taken: float


class TurnChanges:
    """A turn watch and a Done note for one workspace's builders (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._prompted: dict[str, _Baseline] = {}  # taken just before a prompt
        self._turns: dict[str, _Baseline] = {}  # the running (or just finished) turn's

    async def watch(self, builder: str, phase: TurnPhase) -> None:
        if phase == "prompting":
            self._prompted[builder] = await asyncio.to_thread(self._baseline, builder)
            return
        prompted = self._prompted.pop(builder, None)
        if prompted is not None and time.monotonic() - prompted.taken < PROMPT_FRESH_SECONDS:
            self._turns[builder] = prompted
        else:
            self._turns[builder] = await asyncio.to_thread(self._baseline, builder)

    async def done_note(self, builder: str, notification: Notification) -> DoneExtra | None:
        baseline = self._turns.pop(builder, None)
        if baseline is None:  # the turn began before the relay was watching: nothing to compare
            return None
        extra = await asyncio.to_thread(self._extra, builder, baseline, notification.text)
        return extra if extra.text or extra.files else None

    # ----- in a thread: git and the disk ----------------------------------------------------

    def _baseline(self, builder: str) -> _Baseline:
        directory = builder_path(self.root, builder)
        if not directory.is_dir():  # a binding left behind by a terminated builder
            return _Baseline(BuilderSnapshot(builder, ()), {}, time.monotonic())
        return _Baseline(
            snapshot_builder(self.root, directory), out_state(directory), time.monotonic()
        )

    def _extra(self, builder: str, baseline: _Baseline, reply: str) -> DoneExtra:
        directory = builder_path(self.root, builder)
        lines = []
        if baseline.trees.trees:  # a builder without git worktrees has no diffstat to tell
            try:
                lines.append(diffstat(changes_since(baseline.trees)))
            except OrchestratorError as exc:
                log.warning("turn changes of %s: %s", builder, exc)
        made = [p for p, seen in out_state(directory).items() if baseline.out.get(p) != seen]
        wanted = list(dict.fromkeys([*sorted(made), *named_files(directory, reply)]))
        files, left_out = bounded_files(wanted, directory)
        if left_out:
            lines.append(left_out)
        return DoneExtra("\n".join(lines), tuple(files))


def watch_turn_changes(relay: Relay, root: Path) -> TurnChanges:
    """Every builder "Done" of `relay` carries its turn's diffstat and the files it made."""
    changes = TurnChanges(root)
    relay.add_turn_watch(changes.watch)
    relay.add_done_note(changes.done_note)
    return changes


def diffstat(changes: SnapshotChanges, limit: int = DIFFSTAT_FILES) -> str:
    """`📝 This turn: 2 files, +10 −2` and the files per repository (names one neutral line)."""
    if not changes.repos:
        return "📝 No files changed this turn."
    n = changes.files
    lines = [f"📝 This turn: {n} file{'s' if n != 1 else ''}, +{changes.added} −{changes.removed}"]
    shown = 0
    for repo, files in changes.repos:
        room = max(0, limit - shown)
        if room:
            listed = ", ".join(_stat(f) for f in files[:room])
            lines.append(f"  {neutral_line(repo)}: {listed}")
        shown += len(files)
    if shown > limit:
        lines.append(f"  … and {shown - limit} more")
    return "\n".join(lines)


def _stat(change: FileChange) -> str:
    counts = "binary" if change.added is None else f"+{change.added} −{change.removed}"
    return f"{neutral_line(change.path)} {counts}"


def out_state(directory: Path) -> OutState:
    """Size and modification time of each file under `out/` of the builder's folder and of
    each folder in it (its worktrees), at most OUT_SCAN_LIMIT per folder."""
    found: OutState = {}
    if not directory.is_dir():
        return found
    folders = [directory / OUT_FOLDER]
    folders += [entry / OUT_FOLDER for entry in sorted(directory.iterdir()) if entry.is_dir()]
    for folder in folders:
        if not folder.is_dir() or folder.is_symlink():
            continue
        for count, path in enumerate(sorted(folder.rglob("*"))):
            if count >= OUT_SCAN_LIMIT:
                break
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                found[path.resolve()] = (stat.st_size, stat.st_mtime_ns)
    return found


def named_files(directory: Path, reply: str) -> list[Path]:
    """Files the reply names (`out/chart.png`, `ai-dev/report.html`) that exist in the
    builder's folder or one of its worktrees and are made to be looked at."""
    if not directory.is_dir():
        return []
    inside = directory.resolve()
    found: list[Path] = []
    bases = [directory, *(e for e in sorted(directory.iterdir()) if e.is_dir())]
    for match in _NAMED.finditer(reply):
        name = match.group(1).removeprefix("./")
        if ".." in Path(name).parts:
            continue
        for base in bases:
            path = (base / name).resolve()
            if path.is_file() and path.is_relative_to(inside) and path not in found:
                found.append(path)
                break
    return found


def bounded_files(paths: list[Path], directory: Path) -> tuple[list[OutboundFile], str]:
    """At most MAX_FILES files of at most MAX_TOTAL bytes together, and the line naming the
    ones left out ("" when none was)."""
    files: list[OutboundFile] = []
    left: list[str] = []
    total = 0
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size == 0:
            continue  # nothing to look at
        shown = _relative(path, directory)
        fits = len(files) < MAX_FILES and total + size <= min(MAX_TOTAL, OUTBOUND_FILE_LIMIT)
        if not fits:
            left.append(f"{shown} ({file_size(size)})")
            continue
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        files.append(OutboundFile(path.name, mime, path.read_bytes()))
        total += size
    if not left:
        return files, ""
    shown_left = ", ".join(left[:MAX_FILES])
    more = f" and {len(left) - MAX_FILES} more" if len(left) > MAX_FILES else ""
    limits = f"{MAX_FILES} files, {file_size(MAX_TOTAL)}"
    return files, f"📎 Not attached (over {limits} per Done): {shown_left}{more}"


def _relative(path: Path, directory: Path) -> str:
    try:
        return neutral_line(path.resolve().relative_to(directory.resolve()))
    except ValueError:
        return neutral_line(path.name)

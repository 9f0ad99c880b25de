"""Status edits that rewrite only the status line and its `<status>_at` timestamp line.

An edit is planned against one version of the file and proved before it is written (see
_verify). Its precondition is the edited entry, not the whole file: edits to other entries
made meanwhile (another card approved, another `status set`) are kept and the planned edit
is made on top of them; a change to the entry itself refuses it as stale.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from tools.projectlist._cache import parsed, remember_written
from tools.projectlist._errors import (
    InvalidStatus,
    ProjectListError,
    StaleFileError,
)
from tools.projectlist._lifecycle import ALIASES, transition_warnings
from tools.projectlist._lock import locked
from tools.projectlist._model import STATUSES, ProjectList
from tools.projectlist._source import Spot
from tools.projectlist._text import content, digest, ending
from tools.projectlist._verify import prove
from tools.projectlist._write import replace_atomically

Timestamp = str | None | Literal["now"]

MAX_TIMESTAMP_LENGTH = 64
# Line and paragraph separators (category Z) end a line for YAML; control and format
# characters (category C: ANSI escapes, bidi overrides) hide what the line says.
_BREAKS = "\u2028\u2029"


@dataclass(frozen=True)
class StatusChange:
    """A planned or applied status change: what it rewrites and what is unusual about it."""

    path: Path
    project_id: str
    old_status: str
    new_status: str
    diff: list[tuple[int, str, str]]  # (1-based line, old line, new line), endings left off
    warnings: tuple[str, ...]
    digest_before: str
    digest_after: str | None = None  # None until written
    timestamp_key: str | None = None  # e.g. "integrated_at", when that line is rewritten
    timestamp: str | None = None  # the value written there
    entry_before: str = ""  # the entry's fingerprint when planned (the precondition)
    _data: bytes = field(default=b"", repr=False, compare=False)
    _proved: ProjectList | None = field(default=None, repr=False, compare=False)

    @property
    def applied(self) -> bool:
        return self.digest_after is not None

    @property
    def content(self) -> bytes:
        """The whole file's bytes with this change made (what is, or will be, written)."""
        return self._data

    def render(self) -> str:
        """The change as one line of text, for a terminal or an approval card."""
        if not self.diff:
            return f"{self.project_id}: already {self.new_status}, nothing to change"
        status_line = self.diff[0][0]
        text = (
            f"{self.project_id}: status {self.old_status} → {self.new_status} (line {status_line})"
        )
        if self.timestamp_key is not None:
            stamp_line = next(
                (line for line, _, new in self.diff if self.timestamp_key in new), status_line
            )
            text += f"; {self.timestamp_key} → {_quoted(self.timestamp or '')} (line {stamp_line})"
        return text


def now() -> str:
    """The current local time as ISO 8601 with its UTC offset, as codev writes timestamps."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def plan_status_change(
    plist: ProjectList, project_id: str, status: str, *, timestamp: Timestamp = "now"
) -> StatusChange:
    """Work out the edit that moves a project to `status`, and prove it; nothing is written.

    `timestamp`: "now" writes the current time, any other string writes that value (an ISO
    8601 date or date and time), None leaves timestamps alone; it goes only where the entry
    already has a `<status>_at` key.
    """
    if plist.errors:
        first = plist.errors[0]
        raise ProjectListError(plist.path, first.line, f"{first.message}; fix the file first")
    if status not in STATUSES and status not in ALIASES:
        raise InvalidStatus(
            plist.path, 0, f"unknown status {status!r}; use one of: {', '.join(STATUSES)}"
        )
    if timestamp is not None and timestamp != "now":
        _check_timestamp(plist.path, timestamp)
    project_id = _resolve_id(plist, project_id)
    source = plist._sources[project_id]
    project = plist.find(project_id)
    document = plist._document
    if document is None:  # a ProjectList built by hand, not read from a file
        raise ProjectListError(plist.path, 0, "this project list was not read from a file")
    status_spot = source.status
    if status_spot is None:
        raise ProjectListError(plist.path, project.line, f"project {project_id} has no status")
    _require_editable(plist, project_id, status_spot, "status")
    warnings = transition_warnings(project.status, status)
    if status == project.status:
        return StatusChange(
            plist.path,
            project_id,
            project.status,
            status,
            [],
            warnings,
            plist.digest,
            entry_before=source.fingerprint,
            _data=plist.to_bytes(),
            _proved=plist,
        )
    edits: list[tuple[Spot, str]] = [(status_spot, _scalar(status, status_spot.style))]
    values: dict[tuple[str, ...], str] = {("status",): status}
    written_stamp: str | None = None
    stamp_key = next((key for key in _stamp_keys(status) if key in source.written_stamps), None)
    if timestamp is not None and stamp_key is not None:
        written_stamp = now() if timestamp == "now" else timestamp
        spot = source.timestamps[stamp_key]  # resolved only for the entry being edited
        _require_editable(plist, project_id, spot, stamp_key)
        edits.append((spot, _quoted(written_stamp)))
        nested = stamp_key in source.nested
        values[("timestamps", stamp_key) if nested else (stamp_key,)] = written_stamp
    else:
        stamp_key = None
    lines = document.lines
    replacements: dict[int, str] = {}
    inserted: dict[Spot, str] = {}
    for spot, text in sorted(edits, key=lambda edit: (edit[0].line, -edit[0].start)):
        line = replacements.get(spot.line, lines[spot.line])
        body = content(line)
        value = f" {text}" if spot.empty else text
        inserted[spot] = value
        replacements[spot.line] = body[: spot.start] + value + body[spot.end :] + ending(line)
    data = document.encode(replacements)
    proved = prove(plist, data, project_id, inserted, values)
    diff = [
        (index + 1, content(lines[index]), content(new))
        for index, new in sorted(replacements.items())
    ]
    return StatusChange(
        path=plist.path,
        project_id=project_id,
        old_status=project.status,
        new_status=status,
        diff=diff,
        warnings=warnings,
        digest_before=plist.digest,
        timestamp_key=stamp_key,
        timestamp=written_stamp,
        entry_before=source.fingerprint,
        _data=data,
        _proved=proved,
    )


def apply_status_change(change: StatusChange) -> StatusChange:
    """Write a planned change, refusing (StaleFileError) if its entry changed since.

    Other entries may have changed meanwhile: then the same change (the same status and
    timestamp values) is planned again on the current file, proved, and written.
    """
    if change.applied or not change.diff:
        return replace(change, digest_after=change.digest_after or change.digest_before)
    path = Path(change.path)
    with locked(_real(path)):
        raw = _read(path)
        if digest(raw) != change.digest_before:
            plist = _current(path, raw, change.project_id, change.entry_before)
            timestamp = change.timestamp if change.timestamp_key is not None else None
            change = plan_status_change(
                plist, change.project_id, change.new_status, timestamp=timestamp
            )
            if not change.diff:
                return replace(change, digest_after=change.digest_before)
        _commit(change)
    return replace(change, digest_after=digest(change._data))


def set_status(
    path: Path,
    project_id: str,
    status: str,
    *,
    timestamp: Timestamp = "now",
    expected_entry: str | None = None,
    expected_digest: str | None = None,
) -> StatusChange:
    """Read, plan, prove and write a status change under the lock; returns what was written.

    With `expected_entry` (the `fingerprint(project_id)` of the ProjectList the caller
    showed a human) the write is refused with StaleFileError if that entry changed since;
    `expected_digest` (the whole file's `.digest`) refuses it if anything changed.
    """
    path = Path(path)
    with locked(_real(path)):
        raw = _read(path)
        if expected_digest is not None and digest(raw) != expected_digest:
            raise StaleFileError(path, 0, _stale(expected_digest, digest(raw)))
        plist = _current(path, raw, project_id, expected_entry)
        change = plan_status_change(plist, project_id, status, timestamp=timestamp)
        if not change.diff:
            return replace(change, digest_after=change.digest_before)
        _commit(change)
    return replace(change, digest_after=digest(change._data))


def _current(path: Path, raw: bytes, project_id: str, expected_entry: str | None) -> ProjectList:
    """The parse of the bytes just read, refusing when the entry is not as expected."""
    plist = parsed(path, raw)
    if expected_entry is not None and not plist.errors:
        found = plist.fingerprint(project_id)
        if found != expected_entry:
            raise StaleFileError(
                path,
                plist.find(project_id).line,
                f"project {plist.find(project_id).id} changed since it was read; nothing was "
                "written: read it again and re-plan",
            )
    return plist


def _commit(change: StatusChange) -> None:
    path = _real(change.path)
    # Re-read just before the rename: a writer that ignores the lock (an editor, git) may
    # have changed the file while this one was being parsed.
    current = digest(_read(change.path))
    if current != change.digest_before:
        raise StaleFileError(change.path, 0, _stale(change.digest_before, current))
    _require_writable(change.path, path)
    try:
        replace_atomically(path, change._data)
    except OSError as exc:
        problem = exc.strerror or str(exc)
        raise ProjectListError(
            change.path, 0, f"cannot write {path.parent}: {problem}; nothing was written"
        ) from None
    if change._proved is not None:
        remember_written(change.path, change._proved)


def _require_writable(shown: Path, path: Path) -> None:
    """Refuse a file or directory whose mode says nobody writes it (root included)."""
    try:
        mode = path.stat().st_mode
        directory = path.parent.stat().st_mode
    except OSError as exc:
        raise ProjectListError(shown, 0, f"cannot write: {exc.strerror or exc}") from None
    if not mode & 0o222 or not os.access(path, os.W_OK):
        raise ProjectListError(
            shown,
            0,
            f"the file is read-only ({stat.filemode(mode)}); nothing was written: make it "
            "writable (chmod u+w) to change it",
        )
    if not directory & 0o222 or not os.access(path.parent, os.W_OK | os.X_OK):
        raise ProjectListError(
            shown,
            0,
            f"the folder {path.parent} is not writable ({stat.filemode(directory)}), and a "
            "safe write needs a temporary file beside the list; nothing was written",
        )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProjectListError(path, 0, f"cannot read: {exc.strerror or exc}") from None


def _real(path: Path) -> Path:
    # A symlinked project list is edited where it really lives, keeping the link.
    return Path(path).resolve()


def _stale(expected: str, found: str) -> str:
    return (
        f"the file changed since it was read (expected sha256 {expected[:12]}…, "
        f"found {found[:12]}…); nothing was written: read it again and re-plan"
    )


def _check_timestamp(path: Path, value: str) -> None:
    """A timestamp is written as one quoted YAML scalar: one line of visible text, short."""
    hidden = [ch for ch in value if unicodedata.category(ch)[0] == "C" or ch in _BREAKS]
    if hidden or not value.strip() or len(value) > MAX_TIMESTAMP_LENGTH:
        what = f"holds {hidden[0]!a}" if hidden else "is empty or too long"
        raise ProjectListError(
            path,
            0,
            f"timestamp {value[:60]!a} {what}: give an ISO 8601 date or time "
            "(e.g. 2026-02-09 or 2026-02-09T14:30:00+01:00); nothing was written",
        )


def _resolve_id(plist: ProjectList, project_id: str) -> str:
    """The id as written in the file, refusing ids written more than once."""
    resolved = plist.find(project_id).id
    if resolved in plist._duplicates:
        lines = ", ".join(str(p.line) for p in plist.projects if p.id == resolved)
        raise ProjectListError(
            plist.path,
            plist._sources[resolved].first + 1,
            f"id {resolved} is written more than once (lines {lines}); fix the file first",
        )
    return resolved


def _require_editable(plist: ProjectList, project_id: str, spot: Spot, what: str) -> None:
    if spot.problem is not None:
        raise ProjectListError(
            plist.path,
            spot.line + 1,
            f"project {project_id}: {what} {spot.problem}; edit it by hand",
        )


def _stamp_keys(status: str) -> tuple[str, ...]:
    return (f"{status}_at", f"{status.replace('-', '_')}_at")


def _scalar(value: str, style: str) -> str:
    if style == '"':
        return _quoted(value)
    if style == "'":
        return f"'{value}'"
    return value


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'

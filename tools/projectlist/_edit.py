"""Status edits that rewrite only the status line and its `<status>_at` timestamp line."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from tools.projectlist._errors import (
    InvalidStatus,
    ProjectListError,
    StaleFileError,
)
from tools.projectlist._lifecycle import ALIASES, transition_warnings
from tools.projectlist._lock import locked
from tools.projectlist._model import STATUSES, ProjectList
from tools.projectlist._parse import parse
from tools.projectlist._source import Spot
from tools.projectlist._text import content, digest, ending
from tools.projectlist._write import replace_atomically

Timestamp = str | None | Literal["now"]


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
    _data: bytes = field(default=b"", repr=False, compare=False)

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
    """Work out the edit that moves a project to `status`; nothing is written.

    `timestamp`: "now" writes the current time, any other string writes that value, None
    leaves timestamps alone; it goes only where the entry already has a `<status>_at` key.
    """
    if plist.errors:
        first = plist.errors[0]
        raise ProjectListError(plist.path, first.line, f"{first.message}; fix the file first")
    if status not in STATUSES and status not in ALIASES:
        raise InvalidStatus(
            plist.path, 0, f"unknown status {status!r}; use one of: {', '.join(STATUSES)}"
        )
    project_id = _resolve_id(plist, project_id)
    source = plist._sources[project_id]
    project = plist.find(project_id)
    document = plist._document
    if document is None:  # a ProjectList built by hand, not read from a file
        raise ProjectListError(plist.path, 0, "this project list was not read from a file")
    if source.status is None:
        raise ProjectListError(plist.path, project.line, f"project {project_id} has no status")
    _require_single_line(plist, source.status, "status")
    edits: list[tuple[Spot, str]] = [(source.status, _scalar(status, source.status.style))]
    written_stamp: str | None = None
    stamp_key = None
    if timestamp is not None and status != project.status:
        stamp_key = next((key for key in _stamp_keys(status) if key in source.timestamps), None)
        if stamp_key is not None:
            written_stamp = now() if timestamp == "now" else timestamp
            if "\n" in written_stamp or "\r" in written_stamp:
                raise ValueError("a timestamp must be a single line")
            spot = source.timestamps[stamp_key]
            _require_single_line(plist, spot, stamp_key)
            edits.append((spot, _quoted(written_stamp)))
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
            _data=plist.to_bytes(),
        )
    lines = document.lines
    replacements: dict[int, str] = {}
    for spot, text in sorted(edits, key=lambda edit: (edit[0].line, -edit[0].start)):
        line = replacements.get(spot.line, lines[spot.line])
        body = content(line)
        value = f" {text}" if spot.empty else text
        replacements[spot.line] = body[: spot.start] + value + body[spot.end :] + ending(line)
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
        _data=document.encode(replacements),
    )


def apply_status_change(change: StatusChange) -> StatusChange:
    """Write a planned change exactly as planned, refusing if the file changed since."""
    if change.applied or not change.diff:
        return replace(change, digest_after=change.digest_after or change.digest_before)
    with locked(_real(change.path)):
        _commit(change)
    return replace(change, digest_after=digest(change._data))


def set_status(
    path: Path,
    project_id: str,
    status: str,
    *,
    timestamp: Timestamp = "now",
    expected_digest: str | None = None,
) -> StatusChange:
    """Read, plan and write a status change under the lock; returns what was written.

    With `expected_digest` (the `.digest` of the ProjectList the caller showed a human), the
    write is refused with StaleFileError if the file changed since.
    """
    path = Path(path)
    with locked(_real(path)):
        raw = _read(path)
        if expected_digest is not None and digest(raw) != expected_digest:
            raise StaleFileError(path, 0, _stale(expected_digest, digest(raw)))
        plist = parse(raw, path, strict=False)
        change = plan_status_change(plist, project_id, status, timestamp=timestamp)
        if not change.diff:
            return replace(change, digest_after=change.digest_before)
        _commit(change)
    return replace(change, digest_after=digest(change._data))


def _commit(change: StatusChange) -> None:
    # Re-read just before the rename: a writer that ignores the lock (an editor, git) may
    # have changed the file while this one was being parsed.
    current = digest(_read(change.path))
    if current != change.digest_before:
        raise StaleFileError(change.path, 0, _stale(change.digest_before, current))
    replace_atomically(_real(change.path), change._data)


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


def _require_single_line(plist: ProjectList, spot: Spot, what: str) -> None:
    if not spot.single_line:
        raise ProjectListError(
            plist.path, spot.line + 1, f"{what} spans several lines; edit it by hand"
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

"""The typed model of a project list: what every tier reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tools.projectlist._errors import ProjectNotFound
from tools.projectlist._source import EntrySource
from tools.projectlist._text import Document

Format = Literal["ai", "codev"]

# codev's lifecycle, in order; abandoned and on-hold sit outside it.
LIFECYCLE: tuple[str, ...] = (
    "conceived",
    "specified",
    "planned",
    "implementing",
    "implemented",
    "committed",
    "integrated",
)
TERMINAL: tuple[str, ...] = ("integrated", "abandoned", "on-hold")
STATUSES: tuple[str, ...] = (*LIFECYCLE, "abandoned", "on-hold")
# Only a human may move a project into these (codev's rule); the assistant always asks.
HUMAN_GATES: tuple[str, ...] = ("specified", "integrated")
# Written with an underscore in some real files; the same state as codev's "on-hold".
ALIASES: dict[str, str] = {"on_hold": "on-hold"}


def canonical(status: str) -> str:
    return ALIASES.get(status, status)


@dataclass(frozen=True)
class ChatBinding:
    """Where a project's builder talks: the design's `chat_binding` block."""

    platform: str
    group_name: str | None = None
    channel_id: str | None = None
    thread_id: str | None = None
    trigger: str = "all_messages"  # all_messages | mention | prefix
    patterns: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    id: str
    title: str
    status: str
    repos: tuple[str, ...] = ()
    files: dict[str, Any] = field(default_factory=dict)
    chat_binding: ChatBinding | None = None
    tags: tuple[str, ...] = ()
    notes: str | None = None
    # every other key, kept as read (priority, release, timestamps, dependencies, ...)
    extra: dict[str, Any] = field(default_factory=dict)
    line: int = 0  # 1-based line of the entry's `- id:` in the file
    in_fence: bool = True


@dataclass(frozen=True)
class Issue:
    """A problem found while reading: errors stop writes, warnings are reported."""

    severity: Literal["error", "warning"]
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class ProjectList:
    """A parsed project-list file: its projects, what looked wrong, and what an edit needs."""

    path: Path
    format: Format
    projects: tuple[Project, ...]
    issues: tuple[Issue, ...]
    digest: str  # sha256 hex of the bytes read
    templates: int = 0  # template/example entries seen and skipped
    _document: Document | None = field(default=None, repr=False, compare=False)
    _sources: dict[str, EntrySource] = field(default_factory=dict, repr=False, compare=False)
    # ids written more than once: reading keeps all, an edit refuses them as ambiguous
    _duplicates: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    # every YAML block's documents as constructed, for proving an edit changed one value
    _data: tuple[tuple[Any, ...], ...] = field(default=(), repr=False, compare=False)

    def get(self, project_id: str) -> Project | None:
        for project in self.projects:
            if project.id == project_id:
                return project
        return None

    def with_status(self, statuses: Iterable[str] = ()) -> tuple[Project, ...]:
        """The projects in any of `statuses` (all when none is given); on_hold is on-hold."""
        wanted = {canonical(s) for s in statuses}
        return tuple(p for p in self.projects if not wanted or canonical(p.status) in wanted)

    def find(self, project_id: str) -> Project:
        """The project with this id; "4" finds "0004" when exactly one id matches.

        Raises ProjectNotFound naming the ids the file does have.
        """
        found = self.get(project_id)
        if found is None and project_id.isdigit():
            matches = [p for p in self.projects if p.id.isdigit() and int(p.id) == int(project_id)]
            if len({p.id for p in matches}) == 1:
                found = matches[0]
        if found is None:
            known = ", ".join(p.id for p in self.projects[:20])
            more = ", …" if len(self.projects) > 20 else ""
            raise ProjectNotFound(
                self.path, 0, f"no project {project_id!r} in this file (ids: {known}{more})"
            )
        return found

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.severity == "warning")

    def source(self, project_id: str) -> str:
        """The entry's lines exactly as written in the file ('' when there is no such id)."""
        where = self._sources.get(project_id)
        if where is None or self._document is None:
            return ""
        return "".join(self._document.lines[where.first : where.last + 1])

    def fingerprint(self, project_id: str) -> str:
        """A digest of the entry's lines as written: what a card about this project assumes.

        Edits to other entries leave it alone, so a card (or `status set`) goes stale only
        when its own entry changed. Raises ProjectNotFound for an unknown id.
        """
        resolved = self.find(project_id).id
        where = self._sources.get(resolved)
        return where.fingerprint if where is not None else ""

    def to_bytes(self) -> bytes:
        """The file's bytes as read: saving an unedited list changes nothing."""
        return self._document.encode() if self._document is not None else b""

    def counts(self) -> dict[str, int]:
        """Projects per status, in lifecycle order, then any other status as written."""
        counts: dict[str, int] = {}
        order = {status: index for index, status in enumerate(STATUSES)}
        for project in sorted(self.projects, key=lambda p: order.get(p.status, len(order))):
            counts[project.status] = counts.get(project.status, 0) + 1
        return counts

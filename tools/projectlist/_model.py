"""The typed model of a project list: what every tier reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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

"""Where an entry's editable values sit in the file, so an edit touches only those characters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Spot:
    """One scalar value on one line: `line` indexes Document.lines, columns are characters.

    An empty value (`integrated_at:` with nothing after it) has start == end just after the
    colon. A value that cannot be rewritten in place (spanning lines, an anchor or alias, a
    tag, not a scalar) carries the reason in `problem` and is never edited.
    """

    line: int
    start: int
    end: int
    style: str  # '"', "'" or "" (plain)
    empty: bool = False
    problem: str | None = None

    @property
    def single_line(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class EntrySource:
    """An entry's lines (`first` .. `last` inclusive) and the spots an edit may rewrite."""

    first: int
    last: int
    status: Spot | None
    # `<status>_at` keys found flat in the entry or in its `timestamps:` mapping
    timestamps: dict[str, Spot] = field(default_factory=dict)
    nested: frozenset[str] = frozenset()  # which of those sit in `timestamps:`
    # where the entry's data sits: (block, document, "projects"?, index)
    where: tuple[Any, ...] = ()
    fingerprint: str = ""  # sha256 of the entry's lines as written

"""Where an entry's editable values sit in the file, so an edit touches only those characters."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Spot:
    """One scalar value on one line: `line` indexes Document.lines, columns are characters.

    An empty value (`integrated_at:` with nothing after it) has start == end just after the
    colon; a value spanning several lines has `single_line` False and is never edited.
    """

    line: int
    start: int
    end: int
    style: str  # '"', "'" or "" (plain)
    single_line: bool = True
    empty: bool = False


@dataclass(frozen=True)
class EntrySource:
    """An entry's lines (`first` .. `last` inclusive) and the spots an edit may rewrite."""

    first: int
    last: int
    status: Spot | None
    # `<status>_at` keys found flat in the entry or in its `timestamps:` mapping
    timestamps: dict[str, Spot] = field(default_factory=dict)

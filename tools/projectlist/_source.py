"""Where an entry's editable values sit in the file, so an edit touches only those characters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.projectlist._text import YAML_BREAKS, Locator

# Where the parser found a key's value: (end of the key, start and end of the value as
# character offsets into its block, quoting style, "scalar" | "empty" | "other"). Kept raw
# and turned into a Spot only for the entry being edited: most entries never are.
Written = tuple[int, int, int, str, str]


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


def locate(at: Locator, written: Written) -> Spot:
    """Where a key's value is written, or why it cannot be rewritten in place."""
    key_end, start, end, style, kind = written
    text = at.text
    colon = text.find(":", key_end)
    after = colon + 1
    while after < len(text) and text[after] in " \t":
        after += 1
    shown = text[after : after + 1]
    line = at.line(start if start >= colon else after)
    if shown == "*" or start < colon:
        return Spot(line, 0, 0, "", problem="is a YAML alias (*) of a value written elsewhere")
    if shown == "&" or text[start : start + 1] == "&":
        return Spot(line, 0, 0, "", problem="carries a YAML anchor (&) that others may use")
    if shown == "!" or text[start : start + 1] == "!":
        return Spot(line, 0, 0, "", problem="carries a YAML tag (!)")
    if kind == "other":
        return Spot(line, 0, 0, "", problem="is not a single value")
    if kind == "empty":
        # An empty value's marks point at the next token; the value belongs after the colon.
        column = at.column(colon) + 1
        return Spot(at.line(colon), column, column, "", empty=True)
    single = at.line(end - 1) == line and not YAML_BREAKS.search(text, start, end)
    return Spot(
        line=line,
        start=at.column(start),
        end=at.column(start) + end - start,
        style=style,
        problem=None if single else "spans several lines",
    )


@dataclass(frozen=True)
class EntrySource:
    """An entry's lines (`first` .. `last` inclusive) and the spots an edit may rewrite."""

    first: int
    last: int
    # the status as written, or a Spot naming why it cannot be edited
    written_status: Written | Spot | None = None
    # `<status>_at` keys found flat in the entry or in its `timestamps:` mapping
    written_stamps: dict[str, Written] = field(default_factory=dict)
    nested: frozenset[str] = frozenset()  # which of those sit in `timestamps:`
    # where the entry's data sits: (block, document, "projects"?, index)
    where: tuple[Any, ...] = ()
    fingerprint: str = ""  # sha256 of the entry's lines as written
    locator: Locator | None = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> Spot | None:
        written = self.written_status
        if written is None or isinstance(written, Spot):
            return written
        return locate(self._at(), written)

    @property
    def timestamps(self) -> dict[str, Spot]:
        at = self._at() if self.written_stamps else None
        return {name: locate(at, w) for name, w in self.written_stamps.items() if at}

    def _at(self) -> Locator:
        if self.locator is None:
            raise ValueError("this entry was not read from a file")
        return self.locator

"""The proof an edit is checked against before it is written: one value of one entry changed.

The editor builds the new bytes by splicing values into located spans, which is correct by
construction only as long as the spans are right. This re-reads the result and compares it
with what was read: every line but the edited ones byte for byte, the edited lines outside
their spans, and every YAML document as data, with exactly the planned values of the one
entry different. Anything else (a span that was off, an alias or merge that carries the value
to another entry, a file that stops parsing) refuses the edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.projectlist._errors import ProjectListError
from tools.projectlist._model import ProjectList
from tools.projectlist._parse import parse
from tools.projectlist._source import Spot


def prove(
    old: ProjectList,
    new_raw: bytes,
    project_id: str,
    edits: Mapping[Spot, str],
    values: Mapping[tuple[str, ...], str],
) -> ProjectList:
    """The parsed new version, if it differs from `old` exactly as planned; else raise.

    `edits` maps each rewritten spot to its new text; `values` maps each changed key path
    within the entry (("status",), ("timestamps", "planned_at")) to the value it must read as.
    """
    new = parse(new_raw, old.path, strict=False)
    _same_bytes_outside(old, new, edits)
    if new.errors:
        first = new.errors[0]
        _refuse(old, first.line, f"the edited file would not read ({first.message})")
    source = old._sources[project_id]
    expected = _with_values(old._data, source.where, values)
    if new._data != expected:
        _refuse(old, source.first + 1, _what_else_changed(old, new, project_id))
    return new


def _same_bytes_outside(old: ProjectList, new: ProjectList, edits: Mapping[Spot, str]) -> None:
    before = old._document.lines if old._document else ()
    after = new._document.lines if new._document else ()
    if len(before) != len(after) or (
        old._document and new._document and old._document.bom != new._document.bom
    ):
        _refuse(old, 0, "the edit would add or remove lines")
    spans: dict[int, list[Spot]] = {}
    for spot in edits:
        spans.setdefault(spot.line, []).append(spot)
    for index, (a, b) in enumerate(zip(before, after, strict=True)):
        if a == b:
            continue
        mine = sorted(spans.get(index, ()), key=lambda spot: spot.start)
        if not mine:
            _refuse(old, index + 1, "the edit would change a line it was not meant to touch")
        # Outside the spans the line must be as it was: walk the spans left to right.
        at_a = at_b = 0
        for spot in mine:
            kept = spot.start - at_a
            if a[at_a : spot.start] != b[at_b : at_b + kept]:
                _refuse(old, index + 1, "the edit would change text beside the value")
            at_b += kept + len(edits[spot])
            at_a = spot.end
        if a[at_a:] != b[at_b:]:
            _refuse(old, index + 1, "the edit would change text beside the value")


def _with_values(
    data: tuple[tuple[Any, ...], ...],
    where: tuple[Any, ...],
    values: Mapping[tuple[str, ...], str],
) -> tuple[tuple[Any, ...], ...]:
    """`data` with the entry at `where` changed as planned, copying only along the path."""
    block, document, *path = where
    blocks = list(data)
    documents = list(blocks[block])
    documents[document] = _set(documents[document], path, lambda entry: _entry(entry, values))
    blocks[block] = tuple(documents)
    return tuple(blocks)


def _set(container: Any, path: list[Any], change: Any) -> Any:
    if not path:
        return change(container)
    head, *rest = path
    copy = list(container) if isinstance(container, list) else dict(container)
    copy[head] = _set(container[head], rest, change)
    return copy


def _entry(entry: dict[str, Any], values: Mapping[tuple[str, ...], str]) -> dict[str, Any]:
    changed = entry
    for key_path, value in values.items():
        changed = _set(changed, list(key_path), lambda _old, value=value: value)
    return changed


def _what_else_changed(old: ProjectList, new: ProjectList, project_id: str) -> str:
    others = [
        after.id
        for before, after in zip(old.projects, new.projects, strict=False)
        if before.id != project_id and before != after
    ]
    if others:
        return (
            f"the edit would also change project {others[0]} (a YAML alias or merge shares "
            "the value); edit the file by hand"
        )
    return "the edit would change more than the planned values as YAML reads them"


def _refuse(old: ProjectList, line: int, message: str) -> None:
    raise ProjectListError(old.path, line, f"{message}; nothing was written")

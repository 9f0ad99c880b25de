"""Status edits: only the status line and its timestamp line change, or nothing is written."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from inline_snapshot import snapshot

from tools.projectlist import (
    InvalidStatus,
    ProjectListError,
    ProjectNotFound,
    StaleFileError,
    apply_status_change,
    load,
    plan_status_change,
    set_status,
    temp_files,
)

ISO_WITH_OFFSET = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"')


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


def test_default_writes_now_into_the_existing_timestamp_line(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned"), ("0002", "planned")])
    before = path.read_bytes()

    change = set_status(path, "0002", "implementing")

    lines = changed_lines(before, path.read_bytes())
    assert [old for old, _ in lines] == [b"    status: planned\n", b"      implementing_at: null\n"]
    assert lines[0][1] == b"    status: implementing\n"
    stamp = lines[1][1].decode().split(": ", 1)[1].strip()
    assert ISO_WITH_OFFSET.fullmatch(stamp)
    assert change.timestamp_key == "implementing_at" and f'"{change.timestamp}"' == stamp
    assert change.digest_after is not None and change.digest_after != change.digest_before
    assert load(path).get("0002").status == "implementing"


def test_explicit_timestamp_and_no_timestamp(codev_file: Callable) -> None:
    path = codev_file([("0001", "committed")])
    before = path.read_bytes()
    set_status(path, "0001", "integrated", timestamp="2026-02-09")
    assert changed_lines(before, path.read_bytes())[1] == (
        b"      integrated_at: null\n",
        b'      integrated_at: "2026-02-09"\n',
    )
    path = codev_file([("0001", "committed")])
    set_status(path, "0001", "integrated", timestamp=None)
    assert changed_lines(before, path.read_bytes()) == [
        (b"    status: committed\n", b"    status: integrated\n")
    ]


def test_no_timestamp_key_means_only_the_status_line(tmp_path: Path) -> None:
    path = tmp_path / "projectlist.md"
    path.write_text('```yaml\n- id: "0001"\n  status: planned # next: implementing\n```\n')
    set_status(path, "0001", "implementing")
    assert (
        path.read_text()
        == '```yaml\n- id: "0001"\n  status: implementing # next: implementing\n```\n'
    )


def test_quoting_flat_keys_empty_values_and_comments_are_kept(tmp_path: Path) -> None:
    path = tmp_path / ".ai" / "projectlist.md"
    path.parent.mkdir()
    path.write_text(
        "```yaml\nprojects:\n"
        '  - id: "0007"\n'
        '    status: "planned"   # quoted by hand\n'
        "    implementing_at:    # filled in when work starts\n"
        "    repos: [foreman]\n"
        "```\n"
    )
    change = set_status(path, "7", "implementing", timestamp="2026-01-02T03:04:05+00:00")
    assert change.project_id == "0007"
    assert path.read_text() == (
        "```yaml\nprojects:\n"
        '  - id: "0007"\n'
        '    status: "implementing"   # quoted by hand\n'
        '    implementing_at: "2026-01-02T03:04:05+00:00"    # filled in when work starts\n'
        "    repos: [foreman]\n"
        "```\n"
    )
    assert change.diff == snapshot(
        [
            (
                4,
                '    status: "planned"   # quoted by hand',
                '    status: "implementing"   # quoted by hand',
            ),
            (
                5,
                "    implementing_at:    # filled in when work starts",
                '    implementing_at: "2026-01-02T03:04:05+00:00"    # filled in when work starts',
            ),
        ]
    )


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", [False, True])
@pytest.mark.parametrize("final_newline", [True, False])
def test_line_endings_bom_and_final_newline_are_preserved(
    codev_file: Callable, newline: str, bom: bool, final_newline: bool
) -> None:
    projects = [("0001", "planned"), ("0002", "committed")]
    path = codev_file(projects, newline=newline, bom=bom, final_newline=final_newline)
    before = path.read_bytes()
    assert load(path).to_bytes() == before

    set_status(path, "0002", "integrated", timestamp="2026-02-09")

    expected = before.replace(
        f"    status: committed{newline}".encode(), f"    status: integrated{newline}".encode()
    )
    # the second `integrated_at: null` belongs to 0002 (0001's comes first)
    head, _, tail = expected.rpartition(b"integrated_at: null")
    expected = head + b'integrated_at: "2026-02-09"' + tail
    assert path.read_bytes() == expected


def test_unknown_project_and_status_are_refused(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned")])
    before = path.read_bytes()
    with pytest.raises(ProjectNotFound) as caught:
        set_status(path, "0042", "implementing")
    assert caught.value.message == snapshot("no project '0042' in this file (ids: 0001)")
    with pytest.raises(InvalidStatus) as caught:
        set_status(path, "0001", "done")
    assert caught.value.message == snapshot(
        "unknown status 'done'; use one of: conceived, specified, planned, implementing, implemented, committed, integrated, abandoned, on-hold"
    )
    assert path.read_bytes() == before


def test_on_hold_with_underscore_is_accepted(codev_file: Callable) -> None:
    path = codev_file([("0001", "implementing")])
    change = set_status(path, "0001", "on_hold")
    assert load(path).get("0001").status == "on_hold"
    assert change.warnings == snapshot(
        ("'on_hold' is codev's 'on-hold' written with an underscore",)
    )


def test_same_status_writes_nothing(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned")])
    stat = path.stat()
    change = set_status(path, "0001", "planned")
    assert change.diff == [] and change.digest_after == change.digest_before
    assert change.render() == snapshot("0001: already planned, nothing to change")
    assert path.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_file_that_does_not_parse_is_never_written(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned")])
    broken = path.read_bytes() + b'\n```yaml\n- id: "0002"\n  status: [planned\n```\n'
    path.write_bytes(broken)
    with pytest.raises(ProjectListError) as caught:
        set_status(path, "0001", "implementing")
    assert "fix the file first" in caught.value.message
    assert caught.value.line > 0
    assert path.read_bytes() == broken


def test_duplicate_id_is_refused_as_ambiguous(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned"), ("0001", "committed")])
    with pytest.raises(ProjectListError) as caught:
        set_status(path, "0001", "implementing")
    assert caught.value.message == snapshot(
        "id 0001 is written more than once (lines 18, 37); fix the file first"
    )


def test_multi_line_status_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "projectlist.md"
    path.write_text('```yaml\n- id: "0001"\n  status: >-\n    planned\n```\n')
    with pytest.raises(ProjectListError, match="spans several lines"):
        set_status(path, "0001", "implementing")


def test_planned_change_is_applied_exactly(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned")])
    change = plan_status_change(load(path), "0001", "implementing", timestamp="T1")
    assert change.digest_after is None and not change.applied
    applied = apply_status_change(change)
    assert applied.applied and applied.diff == change.diff
    assert b'implementing_at: "T1"' in path.read_bytes()


def test_plan_survives_edits_to_other_entries_and_lands_on_top(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned"), ("0002", "planned")])
    plist = load(path)
    change = plan_status_change(plist, "0001", "implementing", timestamp="2026-03-01")
    set_status(path, "0002", "abandoned", timestamp=None)  # someone else edits meanwhile

    applied = apply_status_change(change)

    after = load(path)
    assert after.get("0001").status == "implementing"
    assert after.get("0002").status == "abandoned"  # the other edit is kept
    assert applied.diff == change.diff and b'implementing_at: "2026-03-01"' in path.read_bytes()
    assert set_status(
        path, "0002", "planned", expected_entry=after.fingerprint("0002"), timestamp=None
    ).applied


def test_stale_entry_is_refused_and_nothing_written(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned"), ("0002", "planned")])
    plist = load(path)
    change = plan_status_change(plist, "0001", "implementing")
    set_status(path, "0001", "abandoned", timestamp=None)  # the same entry changes meanwhile
    after_other = path.read_bytes()

    with pytest.raises(StaleFileError) as caught:
        apply_status_change(change)
    assert "project 0001 changed since it was read" in str(caught.value)
    with pytest.raises(StaleFileError):
        set_status(path, "0001", "implementing", expected_entry=plist.fingerprint("0001"))
    with pytest.raises(StaleFileError):
        set_status(path, "0002", "implementing", expected_digest=plist.digest)
    assert path.read_bytes() == after_other
    # with the current fingerprint it goes through
    set_status(path, "0001", "implementing", expected_entry=load(path).fingerprint("1"))
    assert load(path).get("0001").status == "implementing"


def test_symlink_and_file_mode_are_kept(codev_file: Callable, tmp_path: Path) -> None:
    real = codev_file([("0001", "planned")])
    os.chmod(real, 0o640)
    link = tmp_path / "link.md"
    link.symlink_to(real)
    set_status(link, "0001", "implementing")
    assert link.is_symlink()
    assert load(real).get("0001").status == "implementing"
    assert real.stat().st_mode & 0o777 == 0o640
    assert temp_files(real) == []

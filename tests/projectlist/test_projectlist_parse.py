"""Reading both formats: what becomes a project, what is kept, what is reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from inline_snapshot import snapshot

from tools.projectlist import ChatBinding, ProjectListError, load, parse, set_status

AI_LIST = """\
# Projects

```yaml
projects:
  - id: "0014"
    title: "Telegram relay"
    status: implementing
    repos: [foreman, infra]
    files:
      spec: specs/0014-relay.md
    chat_binding:
      platform: telegram
      group_name: "Foreman 0014"
      channel_id: -1001234
      thread_id: 7
      trigger: mention
      mention_patterns: ["@foreman"]
      quiet_hours: "22-07"
    tags: [relay]
    notes: "first cut"
    owner: alice
    implementing_at: null
  - id: "0015"
    title: "Evals"
    status: conceived
    repos: [foreman]
```
"""


def write(tmp_path: Path, text: str, name: str = ".ai/projectlist.md") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_ai_format_reads_every_field(tmp_path: Path) -> None:
    plist = load(write(tmp_path, AI_LIST))
    assert plist.format == "ai"
    assert [p.id for p in plist.projects] == ["0014", "0015"]
    relay = plist.get("0014")
    assert relay is not None
    assert relay.repos == ("foreman", "infra")
    assert relay.files == {"spec": "specs/0014-relay.md"}
    assert relay.chat_binding == ChatBinding(
        platform="telegram",
        group_name="Foreman 0014",
        channel_id="-1001234",
        thread_id="7",
        trigger="mention",
        patterns=("@foreman",),
        extra={"quiet_hours": "22-07"},
    )
    assert relay.tags == ("relay",)
    assert relay.notes == "first cut"
    # unknown fields are kept, never dropped
    assert relay.extra == {"owner": "alice", "implementing_at": None}
    assert relay.line == 5
    assert plist.issues == ()


def test_entry_source_is_shown_as_written(tmp_path: Path) -> None:
    plist = load(write(tmp_path, AI_LIST))
    assert plist.source("0015") == snapshot("""\
  - id: "0015"
    title: "Evals"
    status: conceived
    repos: [foreman]
""")
    assert plist.source("9999") == ""


def test_codev_format_with_templates_loose_entries_and_releases(tmp_path: Path) -> None:
    text = """\
# Project List

```yaml
releases:
  - version: "v1.0.0"
    status: planning|active|released
```

```yaml
projects:
  - id: "NNNN"
    title: "Brief title"
    status: conceived|specified
  - id: "1"
    title: "Example Project"
    status: conceived
    tags: [example]
```

```yaml
releases:
  - version: "v0.1.0"
    status: released
```

## Active

```yaml
# High Priority

  - id: "0002"
    title: "Two"
    status: planned
    timestamps:
      planned_at: "2025-12-01T10:00:00-08:00"
# Medium Priority
  - id: "0001"
    title: "One"
    status: on_hold
```

```
conceived → specified
  - id: "0099"
```

  - id: "0003"
    title: "Three, written outside any fence"
    status: done
```

## Next Available Number
"""
    plist = load(write(tmp_path, text, "codev/projectlist.md"))
    assert plist.format == "codev"
    assert [(p.id, p.status, p.in_fence) for p in plist.projects] == [
        ("0002", "planned", True),
        ("0001", "on_hold", True),
        ("0003", "done", False),
    ]
    assert plist.templates == 2
    assert plist.get("0002").extra["timestamps"] == {"planned_at": "2025-12-01T10:00:00-08:00"}
    assert [str(issue).split(": ", 1)[1] for issue in plist.issues] == snapshot(
        [
            "warning: project 0001: status 'on_hold' is read as on-hold",
            "warning: project 0003: unknown status 'done' (expected one of conceived, specified, planned, implementing, implemented, committed, integrated, abandoned, on-hold)",
            "warning: project entries written outside a ```yaml fence: 0003 (read anyway; codev's own tools may miss them)",
            "warning: stray closing fence: no fence is open here (the entries above it are outside any ```yaml fence)",
        ]
    )
    assert plist.counts() == {"planned": 1, "on_hold": 1, "done": 1}


def test_yaml_error_names_file_and_line(tmp_path: Path) -> None:
    text = 'Intro\n\n```yaml\nprojects:\n  - id: "0001"\n    title: "x\n    status: planned\n```\n'
    path = write(tmp_path, text, "codev/projectlist.md")
    with pytest.raises(ProjectListError) as caught:
        load(path)
    assert caught.value.path == path
    assert caught.value.line == 8
    assert str(caught.value).replace(str(tmp_path), "<tmp>") == snapshot(
        "<tmp>/codev/projectlist.md:8: invalid YAML: found unexpected end of stream (while scanning a quoted scalar started at line 6)"
    )

    plist = load(path, strict=False)
    assert [(i.severity, i.line) for i in plist.issues] == [("error", 8)]


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "projectlist.md"
    path.write_bytes(b'# List\n\n```yaml\n- id: "0001"\n  title: "caf\xe9"\n```\n')
    with pytest.raises(ProjectListError) as caught:
        load(path)
    assert (caught.value.line, caught.value.message) == snapshot((5, "not valid UTF-8 (byte 0xe9)"))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectListError) as caught:
        load(tmp_path / "nope.md")
    assert "cannot read" in str(caught.value) and "nope.md" in str(caught.value)


def test_duplicate_ids_and_odd_ids_are_warnings(tmp_path: Path) -> None:
    text = """\
```yaml
projects:
  - id: "0001"
    status: planned
  - id: 0002
    status: planned
  - id: "abc"
    status: planned
  - id: "0001"
    status: committed
  - title: "no id"
    status: planned
```
"""
    plist = load(write(tmp_path, text, "codev/projectlist.md"))
    assert [p.id for p in plist.projects] == ["0001", "0002", "abc", "0001"]
    assert [(i.line, i.message) for i in plist.issues] == snapshot(
        [
            (5, 'id 0002 is not quoted; write it as "0002"'),
            (7, "id 'abc' is not a string of digits"),
            (9, "duplicate id 0001 (first at line 3)"),
            (11, "entry without an id: skipped"),
        ]
    )


def test_repeated_keys_warn_and_the_first_counts(tmp_path: Path) -> None:
    text = """\
```yaml
  - id: "0092"
    status: integrated
    timestamps:
      integrated_at: "2026-02-06"
    timestamps:
      integrated_at: null
```
"""
    plist = load(write(tmp_path, text, "codev/projectlist.md"))
    assert plist.get("0092").extra["timestamps"] == {"integrated_at": "2026-02-06"}
    assert [(i.line, i.message) for i in plist.issues] == snapshot(
        [
            (
                6,
                "project 0092: key 'timestamps' is written twice (also at line 4); the first one counts",
            )
        ]
    )


def test_crlf_bom_and_missing_final_newline_parse_the_same(tmp_path: Path) -> None:
    base = load(write(tmp_path, AI_LIST))
    variant = ("\ufeff" + AI_LIST.replace("\n", "\r\n")).rstrip("\r\n").encode()
    other = parse(variant, tmp_path / ".ai" / "projectlist.md")
    assert other.projects == base.projects
    assert other.to_bytes() == variant


def test_documents_split_by_three_dashes_are_all_read(tmp_path: Path) -> None:
    text = '```yaml\nprojects:\n  - id: "0001"\n    status: planned\n---\n- id: "0002"\n  status: committed\n```\n'
    plist = load(write(tmp_path, text, "codev/projectlist.md"))
    assert [(p.id, p.status, p.line) for p in plist.projects] == [
        ("0001", "planned", 3),
        ("0002", "committed", 6),
    ]
    set_status(plist.path, "0002", "integrated")
    assert load(plist.path).get("0002").status == "integrated"

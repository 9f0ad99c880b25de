"""Property: any status edit on any generated list changes only that entry's status and
timestamp lines; every other line stays byte for byte what it was."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tools.projectlist import STATUSES, parse, plan_status_change

PATH = Path("codev/projectlist.md")
STATUS_TEXT = st.sampled_from((*STATUSES, "on_hold"))


@st.composite
def entries(draw: st.DrawFn) -> list[dict]:
    ids = draw(st.lists(st.integers(1, 9999), min_size=1, max_size=6, unique=True))
    return [
        {
            "id": f"{n:04d}",
            "status": draw(STATUS_TEXT),
            "quote": draw(st.sampled_from(["", '"', "'"])),
            "stamps": draw(st.sampled_from(["none", "nested", "flat"])),
            "comment": draw(st.sampled_from(["", "  # why"])),
            "fenced": draw(st.booleans()),
        }
        for n in ids
    ]


def render(items: list[dict]) -> str:
    lines = ["# Project List", "", "Some prose with `status: planned` in it.", ""]
    for item in items:
        q = item["quote"]
        entry = [
            f'  - id: "{item["id"]}"',
            f'    title: "Project {item["id"]}: a title"',
            f"    status: {q}{item['status']}{q}{item['comment']}",
            "    tags: [x, y]",
        ]
        if item["stamps"] == "nested":
            entry += ["    timestamps:"] + [f"      {s}_at: null" for s in STATUSES[:7]]
        elif item["stamps"] == "flat":
            entry += [f"    {s}_at:" for s in STATUSES[:7]]
        entry.append('    notes: "done: not really"')
        if item["fenced"]:
            lines += ["```yaml", *entry, "```", ""]
        else:
            lines += ["## Loose", "", *entry, "", "---", ""]
    return "\n".join(lines) + "\n"


@settings(max_examples=80, deadline=None)
@given(
    items=entries(),
    pick=st.integers(0, 5),
    target=STATUS_TEXT,
    timestamp=st.sampled_from([None, "now", "2026-01-01", 'odd "quoted" \\ value']),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    final_newline=st.booleans(),
)
def test_status_edit_keeps_every_other_line(
    items: list[dict],
    pick: int,
    target: str,
    timestamp: str | None,
    newline: str,
    bom: bool,
    final_newline: bool,
) -> None:
    text = render(items)
    if not final_newline:
        text = text.rstrip("\n")
    raw = ("\ufeff" if bom else "").encode() + text.replace("\n", newline).encode()
    plist = parse(raw, PATH)
    assert plist.to_bytes() == raw
    item = items[pick % len(items)]

    change = plan_status_change(plist, item["id"], target, timestamp=timestamp)

    before = raw.split(b"\n")
    after = change.content.split(b"\n")
    assert len(before) == len(after)
    changed = {i + 1 for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
    assert changed == {line for line, _, _ in change.diff}
    if target == item["status"]:
        assert changed == set()
        return
    stamped = timestamp is not None and item["stamps"] != "none" and target in STATUSES[:7]
    assert len(changed) == (2 if stamped else 1)
    for line in changed:  # the edited lines keep their own line ending
        assert before[line - 1].endswith(b"\r") == after[line - 1].endswith(b"\r")
    reread = parse(change.content, PATH)
    assert reread.get(item["id"]).status == target
    for old, new in zip(plist.projects, reread.projects, strict=True):
        if old.id != item["id"]:
            assert old == new
    if stamped:
        stamps = reread.get(item["id"])
        stamps = stamps.extra["timestamps"] if item["stamps"] == "nested" else stamps.extra
        assert stamps[f"{target}_at"] == change.timestamp

"""The editor against real files and real human edits (shared/corpus, read in place)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from inline_snapshot import snapshot

from tools.projectlist import load, parse, plan_status_change, set_status
from tools.projectlist._scan import scan
from tools.projectlist._text import Document

EDIT_CASES = [f"{n:02d}" for n in range(1, 44)]


def manifest(corpus: Path) -> dict[str, dict]:
    cases = json.loads((corpus / "projectlist-edits" / "manifest.json").read_text())
    return {case["case"]: case for case in cases}


@pytest.mark.parametrize("case", EDIT_CASES)
def test_real_human_edit_is_reproduced_byte_for_byte(corpus: Path, case: str) -> None:
    spec = manifest(corpus)[case]
    before = corpus / "projectlist-edits" / f"{case}.before.md"
    after = (corpus / "projectlist-edits" / f"{case}.after.md").read_bytes()
    # The manifest gives the exact text written, quotes included; the editor adds the quotes.
    stamp = spec["timestamp"]["value"].strip('"') if spec["timestamp"] else None

    change = plan_status_change(
        load(before), spec["project_id"], spec["to_status"], timestamp=stamp
    )

    assert change.old_status == spec["from_status"]
    assert change.content == after
    assert len(change.diff) == (2 if stamp else 1)


def test_edit_cases_cover_the_manifest(corpus: Path) -> None:
    assert sorted(manifest(corpus)) == EDIT_CASES


def test_real_edit_written_to_disk_matches(corpus: Path, tmp_path: Path) -> None:
    spec = manifest(corpus)["11"]
    target = tmp_path / "codev" / "projectlist.md"
    target.parent.mkdir()
    shutil.copyfile(corpus / "projectlist-edits" / "11.before.md", target)

    change = set_status(
        target, spec["project_id"], spec["to_status"], timestamp="2025-12-09T21:54:55-08:00"
    )

    assert target.read_bytes() == (corpus / "projectlist-edits" / "11.after.md").read_bytes()
    assert change.render().split("; ") == snapshot(
        [
            "0039: status implementing → integrated (line 138)",
            'integrated_at → "2025-12-09T21:54:55-08:00" (line 155)',
        ]
    )
    assert change.warnings == snapshot(
        (
            "skips implemented, committed",
            "integrated is a human-only gate: only the human may approve it",
        )
    )


def corpus_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "projectlist").glob("*.md"))


def test_noop_load_save_is_byte_identical(corpus: Path) -> None:
    files = corpus_files(corpus)
    assert len(files) == 30
    for path in files:
        plist = load(path)
        assert plist.to_bytes() == path.read_bytes(), path.name
        for project in plist.projects:
            assert plan_status_change(plist, project.id, project.status).diff == [], project.id


def test_edit_there_and_back_restores_every_byte(corpus: Path, tmp_path: Path) -> None:
    # A status change and its inverse, on the first and last project of every real file:
    # planned in memory for all, written to disk for one.
    for path in corpus_files(corpus):
        plist = load(path)
        for project in {p.id: p for p in plist.projects[:1] + plist.projects[-1:]}.values():
            other = "abandoned" if project.status != "abandoned" else "conceived"
            there = plan_status_change(plist, project.id, other, timestamp=None)
            assert len(there.diff) == 1
            moved = parse(there.content, path)
            assert moved.get(project.id).status == other
            back = plan_status_change(moved, project.id, project.status, timestamp=None)
            assert back.content == path.read_bytes(), (path.name, project.id)
    target = tmp_path / "codev" / "projectlist.md"
    target.parent.mkdir()
    original = (
        corpus
        / "projectlist"
        / "fatima78611097-ai__research-impact_reporting__locard_projectlist.md"
    )
    shutil.copyfile(original, target)
    set_status(target, "0061", "planned", timestamp=None)  # an entry outside any fence
    assert load(target).get("0061").status == "planned"
    set_status(target, "0061", "conceived", timestamp=None)
    assert target.read_bytes() == original.read_bytes()


def test_real_projects_are_found_inside_and_outside_fences(corpus: Path) -> None:
    found = {}
    for path in corpus_files(corpus):
        plist = load(path)
        inside = sum(p.in_fence for p in plist.projects)
        if plist.projects or plist.templates:
            found[path.name] = (inside, len(plist.projects) - inside, plist.templates)
    assert sum(v[0] for v in found.values()) == 342  # per corpus README
    assert sum(v[1] for v in found.values()) == 34
    assert found == snapshot(
        {
            "AdamaSorho__xenios_ai_backend__codev_projectlist.md": (5, 0, 1),
            "AdamaSorho__xenios_github_actions__codev_projectlist.md": (2, 0, 1),
            "MachineWisdomAI__codev__codev-skeleton_templates_projectlist.md": (0, 0, 2),
            "MachineWisdomAI__codev__codev_projectlist.md": (19, 0, 1),
            "abdullah-alnahas__codev__codev-skeleton_templates_projectlist.md": (0, 0, 2),
            "abdullah-alnahas__codev__codev_projectlist.md": (49, 0, 1),
            "amrmelsayed__codev__codev_projectlist.md": (39, 7, 1),
            "ansari-project__ansari-backend__codev_templates_projectlist.md": (0, 0, 2),
            "ansari-project__ansari-frontend__codev_templates_projectlist.md": (0, 0, 2),
            "ansari-project__codev__codev-skeleton_projectlist.md": (0, 0, 2),
            "ansari-project__codev__codev_projectlist.md": (6, 11, 1),
            "ansari-project__maix__codev_projectlist-archive.md": (2, 0, 0),
            "ansari-project__maix__codev_projectlist.md": (1, 0, 1),
            "baogiadoan__codev__codev_projectlist.md": (39, 4, 1),
            "baogiadoan__codev__packages_codev_templates_templates_projectlist.md": (0, 0, 2),
            "cluesmith__codev__codev_projectlist-archive.md": (33, 0, 0),
            "cluesmith__codev__codev_projectlist.md": (13, 0, 1),
            "cluesmith__codev__codev_projectlist__HEAD-ca4e4ce7.md": (13, 0, 1),
            "edithatogo__codev__codev_projectlist.md": (13, 0, 1),
            "electricddev__codev__codev_projectlist.md": (12, 0, 1),
            "electricddev__codev__packages_codev_templates_templates_projectlist.md": (0, 0, 2),
            "fatima78611097-ai__research-impact_reporting__locard_projectlist.md": (54, 7, 1),
            "keyboardsamurai__kokoro-voice__codev_projectlist.md": (2, 0, 1),
            "mohidmakhdoomi__codev__codev_projectlist.md": (13, 0, 1),
            "mpickard-dataprof__ubus670__codev_projectlist.md": (3, 2, 1),
            "rons-elation-code__research-impact_reporting__locard_projectlist.md": (22, 3, 1),
            "rons-elation-code__research-impact_reporting__locard_templates_projectlist.md": (
                0,
                0,
                2,
            ),
            "slijtan__stock_track_record__codev_projectlist.md": (2, 0, 1),
            "stden__racket__codev_templates_projectlist.md": (0, 0, 2),
        }
    )


def test_template_entries_are_not_projects(corpus: Path) -> None:
    for path in corpus_files(corpus):
        for project in load(path).projects:
            assert project.id.isdigit(), (path.name, project.id)
            assert "|" not in project.status
            assert "example" not in project.tags


def test_fences_match_the_corpus_readme(corpus: Path) -> None:
    yaml_fences = 0
    for path in corpus_files(corpus):
        doc = Document.decode(path.read_bytes(), path)
        blocks, _ = scan(doc, path)
        yaml_fences += sum(block.in_fence for block in blocks)
    assert yaml_fences == 106


def test_real_oddities_are_reported_not_fatal(corpus: Path) -> None:
    messages = []
    for path in corpus_files(corpus):
        plist = load(path)
        assert plist.errors == ()
        messages += [(path.name[:12], i.line, i.message[:44]) for i in plist.warnings]
    assert messages == snapshot(
        [
            ("MachineWisdo", 274, "project 0023: status 'on_hold' is read as on"),
            ("abdullah-aln", 1265, "project 0049: status 'on_hold' is read as on"),
            ("amrmelsayed_", 745, "project entries written outside a ```yaml fe"),
            ("ansari-proje", 166, "project entries written outside a ```yaml fe"),
            ("baogiadoan__", 744, "project entries written outside a ```yaml fe"),
            ("fatima786110", 826, "project entries written outside a ```yaml fe"),
            ("fatima786110", 916, "stray closing fence: no fence is open here ("),
            ("mpickard-dat", 153, "project entries written outside a ```yaml fe"),
            ("mpickard-dat", 178, "stray closing fence: no fence is open here ("),
            ("rons-elation", 399, "project entries written outside a ```yaml fe"),
        ]
    )


def test_unquoted_zero_padded_ids_keep_their_zeros(corpus: Path) -> None:
    # `dependencies: [0035]` is written unquoted in one real file: it names project "0035".
    path = (
        corpus
        / "projectlist"
        / "fatima78611097-ai__research-impact_reporting__locard_projectlist.md"
    )
    assert load(path).get("0038").extra["dependencies"] == ["0035"]

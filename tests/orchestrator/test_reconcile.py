"""reconcile() on a messy workspace: it reports every difference and changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from inline_snapshot import snapshot

from tools.orchestrator import Orchestrator, builders_by_project

from .gitcheck import git, worktree_paths


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.parts)


async def test_reconcile_reports_a_messy_workspace(orch: Orchestrator, all_repos: list[Path]):
    root = all_repos[0]
    assert (await orch.reconcile()).in_sync is False  # 0014 is implementing with no builder yet

    await orch.create_builder("0015")  # planned: should not have a builder
    stale = await orch.create_builder("0016")  # conceived; then its worktree vanishes
    shutil.rmtree(stale.path / "workspace-root")
    # and git forgets one of 0015's worktrees while its directory stays
    shutil.rmtree(all_repos[2] / ".git" / "worktrees" / "domain-apis")
    (root / ".builders" / "leftovers").mkdir()
    (root / ".builders" / "leftovers" / "notes.txt").write_text("?")
    git(
        all_repos[1],
        "worktree",
        "add",
        "-q",
        "-b",
        "ghost",
        str(root / ".builders" / "0099-ghost" / "ai-dev"),
    )
    (root / ".builders" / "stray.txt").write_text("")
    before = tree(root / ".builders")

    report = await orch.reconcile()

    assert report.render() == snapshot("""\
builder 0015-new-feature: project 0015 is planned, not implementing
builder 0016-voice-notes: project 0016 is conceived, not implementing
project 0014 is implementing but has no builder
orphan .builders/0099-ghost: matches no project in the project list
orphan .builders/leftovers: matches no project in the project list and holds no worktree
orphan .builders/stray.txt: not a directory
stale worktree .builders/0016-voice-notes/workspace-root: directory gone, git still lists it
stale worktree .builders/0015-new-feature/domain-apis: git no longer lists this worktree
partial builder .builders/0016-voice-notes: holds no worktree; `foreman builder terminate 0016-voice-notes` removes it\
""")
    assert report.to_dict()["implementing_without_builder"] == ["0014"]
    # list_builders shows every builder folder; those without a worktree are marked partial
    listed = {b.name: b.partial for b in await orch.list_builders()}
    assert listed == {
        "0015-new-feature": None,
        "0016-voice-notes": "holds no worktree",
        "0099-ghost": None,
        "leftovers": "holds no worktree",
    }
    # it reports; it does not act
    assert tree(root / ".builders") == before
    assert len(worktree_paths(all_repos[1])) == 2


async def test_reconcile_agrees_when_only_implementing_projects_have_builders(orch: Orchestrator):
    await orch.create_builder("0014")
    report = await orch.reconcile()
    assert report.in_sync
    assert report.render() == "project list and builders agree"


async def test_builders_by_project_reads_directory_names(orch: Orchestrator, all_repos: list[Path]):
    await orch.create_builder("0015")
    await orch.create_builder("0015", name="bridge-plugin")
    await orch.create_builder("0014")
    (all_repos[0] / ".builders" / "-rf").mkdir()  # an unsafe name is never listed
    assert builders_by_project(all_repos[0], ["0013", "0014", "0015", "0016"]) == {
        "0014": ["0014-ironman-training"],
        "0015": ["0015-bridge-plugin", "0015-new-feature"],
    }

"""`foreman builder diff`: what a builder changed, read from real worktrees before approving."""

from __future__ import annotations

from pathlib import Path

from inline_snapshot import snapshot

from tools.orchestrator import Orchestrator, OrchestratorError
from tools.workspace import Workspace

from .gitcheck import git
from .test_cli import run


def _make_changes(workspace: Workspace) -> Path:
    """A builder with a commit not pushed in ai-dev and uncommitted work beside it."""
    assert run(workspace, "create", "0015", "--yes").exit_code == 0
    builder = Path(workspace.root) / ".builders" / "0015-new-feature"
    ai_dev = builder / "ai-dev"
    (ai_dev / "limiter.py").write_text("def allow():\n    return True\n")
    git(ai_dev, "add", "limiter.py")
    git(ai_dev, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "Add limiter")
    readme = next(p for p in ai_dev.iterdir() if p.is_file() and p.suffix == ".md")
    readme.write_text(readme.read_text() + "one more line\n")
    (ai_dev / "notes.txt").write_text("a\nb\nc\n")
    (ai_dev / "logo.bin").write_bytes(b"\0\1\2\3")
    return builder


def test_diff_summary_separates_uncommitted_from_unpushed(workspace: Workspace):
    _make_changes(workspace)

    result = run(workspace, "diff", "0015-new-feature")

    assert result.exit_code == 0
    assert result.text == snapshot("""\
0015-new-feature: changes
  workspace-root (builder/0015-new-feature): no changes
  ai-dev (builder/0015-new-feature)
    uncommitted: 3 files, +4 −0
      README.md  +1 −0
      logo.bin  binary
      notes.txt  +3 (new, untracked)
    committed, not pushed: 1 commit, 1 file, +2 −0
      limiter.py  +2 −0
  domain-apis (builder/0015-new-feature): no changes
""")


def test_diff_patch_holds_both_kinds_for_one_repo(workspace: Workspace):
    _make_changes(workspace)

    result = run(workspace, "diff", "0015-new-feature", "--repo", "ai-dev", "--patch")

    assert result.exit_code == 0, result.text
    assert "workspace-root" not in result.text
    assert "# ai-dev (builder/0015-new-feature): committed, not pushed" in result.text
    assert "+def allow():" in result.text
    assert "+one more line" in result.text
    assert "+++ b/notes.txt" in result.text


def test_diff_of_a_clean_builder_and_refusals(workspace: Workspace):
    assert run(workspace, "create", "0015", "--yes").exit_code == 0

    clean = run(workspace, "diff", "0015-new-feature", "--patch")
    unknown_repo = run(workspace, "diff", "0015-new-feature", "--repo", "nope")
    missing = run(workspace, "diff", "0099-nothing")

    assert clean.exit_code == 0
    assert clean.text == snapshot("""\
0015-new-feature: no changes
  workspace-root (builder/0015-new-feature): no changes
  ai-dev (builder/0015-new-feature): no changes
  domain-apis (builder/0015-new-feature): no changes
""")
    assert (unknown_repo.exit_code, unknown_repo.text) == snapshot(
        (1, "Error: builder 0015-new-feature has no worktree for repository nope\n")
    )
    assert (missing.exit_code, missing.text) == snapshot(
        (1, "Error: no builder named 0099-nothing: WS/.builders/0099-nothing does not exist\n")
    )


async def test_the_summary_is_bounded(workspace: Workspace):
    orch = Orchestrator(workspace, backend="native")
    builder = await orch.create_builder("0015")
    ai_dev = builder.path / "ai-dev"
    for i in range(40):
        (ai_dev / f"f{i:02}.txt").write_text("x\n")

    found = await orch.builder_diff(builder.name, "ai-dev")

    assert "… and 25 more files" in found.render()
    assert len(found.render().splitlines()) < 25
    assert found.worktrees[0].uncommitted.added == 40
    try:
        await orch.builder_diff("../outside")
    except OrchestratorError:
        pass
    else:
        raise AssertionError("a name outside .builders/ must be refused")

"""Create and terminate builders on both back-ends, against real git repositories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.orchestrator import Orchestrator, OrchestratorError, find_taskfile, make_demo_workspace

from .gitcheck import branches, git, worktree_paths

BRANCH = "builder/0015-new-feature"


async def test_create_lays_out_sibling_worktrees(orch: Orchestrator, all_repos: list[Path]):
    builder = await orch.create_builder("0015")

    root = all_repos[0]
    path = root / ".builders" / "0015-new-feature"
    assert builder.name == "0015-new-feature"
    assert builder.path == path
    assert builder.backend == orch.backend
    assert [w.repo for w in builder.worktrees] == ["workspace-root", "ai-dev", "domain-apis"]
    assert sorted(p.name for p in path.iterdir()) == ["ai-dev", "domain-apis", "workspace-root"]
    for repo, sub in zip(all_repos, ["workspace-root", "ai-dev", "domain-apis"], strict=True):
        assert worktree_paths(repo) == [str(path / sub)]
        assert git(path / sub, "branch", "--show-current").strip() == BRANCH
        # the branch starts at the repository's HEAD
        assert git(path / sub, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    assert (path / "workspace-root" / ".ai" / "projectlist.md").is_file()
    assert (path / "ai-dev" / "src" / "__init__.py").is_file()
    # the builders live inside the workspace repository's tree, yet it stays clean
    assert git(root, "status", "--porcelain") == ""
    assert builder.session is None
    assert "no session was started" in builder.session_note


async def test_terminate_clean_builder_removes_everything_but_branches(
    orch: Orchestrator, all_repos: list[Path]
):
    builder = await orch.create_builder("0015")

    result = await orch.terminate_builder(builder.name)

    assert result.done and result.refused is None and result.report.clean
    assert not builder.path.exists()
    assert list((all_repos[0] / ".builders").iterdir()) == []
    for repo in all_repos:
        assert worktree_paths(repo) == []
        # pruned: git keeps no administrative entry for the removed worktrees
        assert list((repo / ".git").glob("worktrees/*")) == []
        # branches are kept so nothing committed is ever lost
        assert BRANCH in branches(repo)
    assert result.branches_kept == (
        f"workspace-root: {BRANCH}",
        f"ai-dev: {BRANCH}",
        f"domain-apis: {BRANCH}",
    )
    assert git(all_repos[0], "status", "--porcelain") == ""


async def test_extra_repos_and_project_without_repos(orch: Orchestrator, all_repos: list[Path]):
    # 0016 lists no repos; ai-dev is added at creation
    builder = await orch.create_builder("0016", extra_repos=["ai-dev"])

    assert [w.repo for w in builder.worktrees] == ["workspace-root", "ai-dev"]
    assert worktree_paths(all_repos[2]) == []
    assert (await orch.terminate_builder(builder.name)).done


async def test_several_builders_per_project(orch: Orchestrator, all_repos: list[Path]):
    first = await orch.create_builder("0015")
    second = await orch.create_builder("0015", name="bridge-plugin")
    third = await orch.create_builder("0015", name="0015-docs")

    assert [first.name, second.name, third.name] == [
        "0015-new-feature",
        "0015-bridge-plugin",
        "0015-docs",
    ]
    listed = await orch.list_builders()
    assert [b.name for b in listed] == ["0015-bridge-plugin", "0015-docs", "0015-new-feature"]
    assert all(b.project_id == "0015" and b.clean for b in listed)
    for repo in all_repos:
        assert len(worktree_paths(repo)) == 3

    assert (await orch.terminate_builder(second.name)).done
    assert [b.name for b in await orch.list_builders()] == ["0015-docs", "0015-new-feature"]
    assert first.path.is_dir()


async def test_status_reports_dirt_tracking_and_last_commit(
    orch: Orchestrator, all_repos: list[Path]
):
    builder = await orch.create_builder("0015")
    ai_dev = builder.path / "ai-dev"
    (ai_dev / "feature.py").write_text("x = 1\n")
    git(ai_dev, "add", "feature.py")
    git(ai_dev, "commit", "-qm", "Add feature")
    await orch.sync_builder(builder.name)
    (ai_dev / "feature.py").write_text("x = 2\n")
    git(ai_dev, "commit", "-qam", "Change feature")
    (ai_dev / "notes.txt").write_text("todo\n")

    status = await orch.builder_status(builder.name)

    by_repo = {w.repo: w for w in status.worktrees}
    assert not status.clean
    assert by_repo["ai-dev"].untracked == 1 and not by_repo["ai-dev"].clean
    assert (by_repo["ai-dev"].upstream, by_repo["ai-dev"].ahead, by_repo["ai-dev"].behind) == (
        f"origin/{BRANCH}",
        1,
        0,
    )
    assert by_repo["ai-dev"].last_commit is not None
    assert by_repo["ai-dev"].last_commit.subject == "Change feature"
    assert by_repo["domain-apis"].clean and by_repo["domain-apis"].ahead == 0
    assert by_repo["workspace-root"].upstream is None  # the workspace repo has no remote
    assert status.to_dict()["worktrees"][1]["last_commit"]["subject"] == "Change feature"


async def test_unknown_builder_is_an_error(orch: Orchestrator):
    with pytest.raises(OrchestratorError, match="no builder named 0099-x"):
        await orch.terminate_builder("0099-x")
    with pytest.raises(OrchestratorError, match="no builder named 0099-x"):
        await orch.builder_status("0099-x")


def test_demo_workspace_is_a_real_workspace(tmp_path: Path):
    workspace = make_demo_workspace(tmp_path / "demo")
    root = Path(workspace.root)
    assert workspace.projectlist_path == root / ".ai" / "projectlist.md"
    assert git(root, "status", "--porcelain") == ""
    assert find_taskfile(root) == root / "Taskfile.yaml"
    for name in ("ai-dev", "domain-apis"):
        repo = root / "repos" / name
        assert git(repo, "status", "-sb").startswith("## main...origin/main")
        assert git(repo, "rev-parse", "HEAD") == git(
            root / "remotes" / f"{name}.git", "rev-parse", "main"
        )
    assert find_taskfile(Path(make_demo_workspace(tmp_path / "plain", taskfile=False).root)) is None
    with pytest.raises(OrchestratorError, match="is not empty"):
        make_demo_workspace(tmp_path / "demo")


async def test_terminate_prunes_a_worktree_deleted_by_hand(
    orch: Orchestrator, all_repos: list[Path]
):
    builder = await orch.create_builder("0015")
    shutil.rmtree(builder.path / "domain-apis")
    assert worktree_paths(all_repos[2]) == [str(builder.path / "domain-apis")]

    result = await orch.terminate_builder(builder.name)

    assert result.done
    assert [w.repo for w in result.report.worktrees] == ["workspace-root", "ai-dev"]
    for repo in all_repos:
        assert worktree_paths(repo) == []

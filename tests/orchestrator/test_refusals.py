"""Every way a create or terminate must refuse, and that a refusal leaves nothing behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tools.orchestrator import Orchestrator, OrchestratorError, make_demo_workspace
from tools.orchestrator.demo_workspace import init_repo
from tools.workspace import Workspace

from .gitcheck import branches, git, worktree_paths

NAME = "0015-new-feature"
BRANCH = f"builder/{NAME}"


def modified(wt: Path) -> None:
    (wt / "README.md").write_text("changed\n")


def staged(wt: Path) -> None:
    (wt / "staged.txt").write_text("new\n")
    git(wt, "add", "staged.txt")


def untracked(wt: Path) -> None:
    (wt / "scratch.txt").write_text("draft\n")


def unpushed(wt: Path) -> None:
    (wt / "README.md").write_text("committed but never pushed\n")
    git(wt, "commit", "-qam", "Work nobody else has")


def stashed(wt: Path) -> None:
    (wt / "README.md").write_text("stashed away\n")
    git(wt, "stash", "push", "-q", "-m", "half done")


DIRT: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # case: (make it, report field, what the field lists)
    "modified": (modified, "modified", "README.md"),
    "staged": (staged, "staged", "staged.txt"),
    "untracked": (untracked, "untracked", "scratch.txt"),
    "unpushed": (unpushed, "unpushed", "Work nobody else has"),
    "stash": (stashed, "stashes", "On builder/0015-new-feature: half done"),
}


@pytest.mark.parametrize("case", list(DIRT))
@pytest.mark.parametrize("repo", ["ai-dev", "workspace-root"])
async def test_terminate_refuses_dirty_worktree_until_forced(
    orch: Orchestrator, all_repos: list[Path], case: str, repo: str
):
    builder = await orch.create_builder("0015")
    make_dirty, field, expected = DIRT[case]
    make_dirty(builder.path / repo)

    result = await orch.terminate_builder(NAME)

    assert not result.done
    assert "would be lost" in (result.refused or "")
    by_repo = {w.repo: w for w in result.report.worktrees}
    listed = [str(item) for item in getattr(by_repo[repo], field)]
    assert any(expected in item for item in listed), listed
    assert all(w.clean for r, w in by_repo.items() if r != repo)
    assert expected in result.report.render()
    # nothing was touched
    assert sorted(p.name for p in builder.path.iterdir()) == [
        "ai-dev",
        "domain-apis",
        "workspace-root",
    ]
    for source in all_repos:
        assert len(worktree_paths(source)) == 1

    forced = await orch.terminate_builder(NAME, force=True)

    assert forced.done and forced.forced
    assert not builder.path.exists()
    for source in all_repos:
        assert worktree_paths(source) == []
    if case == "unpushed":
        # the commit survives on the kept branch
        source = all_repos[0] if repo == "workspace-root" else all_repos[1]
        assert git(source, "log", "-1", "--format=%s", BRANCH).strip() == "Work nobody else has"


async def test_terminate_refuses_files_outside_worktrees(orch: Orchestrator):
    builder = await orch.create_builder("0015")
    (builder.path / "NOTES.md").write_text("my notes\n")

    result = await orch.terminate_builder(NAME)

    assert not result.done
    assert result.report.stray == ("NOTES.md",)
    assert (builder.path / "NOTES.md").read_text() == "my notes\n"


async def test_pushed_commits_do_not_block_terminate(orch: Orchestrator):
    builder = await orch.create_builder("0015")
    unpushed(builder.path / "ai-dev")
    assert not (await orch.terminate_builder(NAME)).done

    synced = await orch.sync_builder(NAME)

    assert {p.repo: (p.pushed, p.commits) for p in synced.pushes} == {
        "workspace-root": (False, 0),
        "ai-dev": (True, 1),
        "domain-apis": (True, 0),
    }
    assert synced.ok
    assert (await orch.terminate_builder(NAME)).done


def assert_nothing_created(root: Path, repos: list[Path]) -> None:
    assert not (root / ".builders" / NAME).exists()
    for repo in repos:
        assert worktree_paths(repo) == []
        assert BRANCH not in branches(repo)


async def test_existing_branch_is_refused_and_never_reset(
    orch: Orchestrator, all_repos: list[Path]
):
    domain = all_repos[2]
    git(domain, "branch", BRANCH)
    git(domain, "checkout", "-q", BRANCH)
    (domain / "mine.txt").write_text("someone's work\n")
    git(domain, "add", "mine.txt")
    git(domain, "commit", "-qm", "Someone's work")
    git(domain, "checkout", "-q", "main")
    tip = git(domain, "rev-parse", BRANCH)

    with pytest.raises(
        OrchestratorError, match=rf"branch {BRANCH} already exists in .*domain-apis"
    ):
        await orch.create_builder("0015")

    assert git(domain, "rev-parse", BRANCH) == tip
    assert_nothing_created(all_repos[0], all_repos[:2])


async def test_missing_repo_is_refused(orch: Orchestrator, all_repos: list[Path]):
    with pytest.raises(OrchestratorError, match=r"repository nope not found: .*repos/nope"):
        await orch.create_builder("0015", extra_repos=["nope"])
    assert_nothing_created(all_repos[0], all_repos)


async def test_folder_that_is_not_a_repo_is_refused(orch: Orchestrator, all_repos: list[Path]):
    (all_repos[0] / "repos" / "plain").mkdir()
    with pytest.raises(OrchestratorError, match=r"repository plain at .* is not a git repository"):
        await orch.create_builder("0015", extra_repos=["plain"])
    assert_nothing_created(all_repos[0], all_repos)


async def test_repo_without_commits_is_refused(orch: Orchestrator, all_repos: list[Path]):
    git(all_repos[0] / "repos", "init", "-q", "empty")
    with pytest.raises(OrchestratorError, match=r"repository empty at .* has no commits"):
        await orch.create_builder("0015", extra_repos=["empty"])
    assert_nothing_created(all_repos[0], all_repos)


async def test_unknown_project_is_refused(orch: Orchestrator, all_repos: list[Path]):
    with pytest.raises(OrchestratorError, match=r"project 0042 not found in .*projectlist.md"):
        await orch.create_builder("0042")
    assert not (all_repos[0] / ".builders").exists()


async def test_existing_builder_is_refused(orch: Orchestrator, all_repos: list[Path]):
    await orch.create_builder("0015")
    with pytest.raises(OrchestratorError, match=f"builder {NAME} already exists"):
        await orch.create_builder("0015")
    # the first builder is untouched
    assert len(worktree_paths(all_repos[1])) == 1


@pytest.mark.parametrize(
    "call",
    [
        {"project_id": "../../etc"},
        {"project_id": "-rf"},
        {"project_id": "0015/.."},
        {"project_id": "0015", "name": "../escape"},
        {"project_id": "0015", "name": "a/b"},
        {"project_id": "0015", "name": "--force"},
        {"project_id": "0015", "name": ".hidden"},
        {"project_id": "0015", "extra_repos": ["../../etc"]},
        {"project_id": "0015", "extra_repos": ["/abs"]},
    ],
)
async def test_unsafe_names_are_refused_before_any_filesystem_call(tmp_path: Path, call: dict):
    # a workspace that does not exist: any filesystem call would fail with another message
    ghost = Workspace(root=tmp_path / "absent", projectlist_path=tmp_path / "absent" / "p.md")
    with pytest.raises(OrchestratorError, match=r"^unsafe "):
        await Orchestrator(ghost).create_builder(**call)
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("name", ["../../etc", "..", "-rf", "a/b", "", "x" * 101])
async def test_unsafe_builder_names_are_refused_by_every_method(tmp_path: Path, name: str):
    ghost = Orchestrator(Workspace(root=tmp_path / "absent", projectlist_path=tmp_path / "p.md"))
    for call in (
        ghost.terminate_builder(name),
        ghost.terminate_builder(name, force=True),
        ghost.builder_status(name),
        ghost.sync_builder(name),
    ):
        with pytest.raises(OrchestratorError, match=r"^unsafe builder name"):
            await call


async def test_unsafe_repo_in_project_list_is_refused(tmp_path: Path):
    workspace = make_demo_workspace(tmp_path / "ws")
    listing = Path(workspace.projectlist_path)
    listing.write_text(listing.read_text().replace("repos: [ai-dev]", 'repos: ["../../outside"]'))

    with pytest.raises(OrchestratorError, match=r"unsafe repo name \(project 0014\)"):
        await Orchestrator(workspace).create_builder("0014")
    assert not (tmp_path / "outside").exists()


async def test_builders_directory_linked_elsewhere_is_refused(tmp_path: Path):
    workspace = make_demo_workspace(tmp_path / "ws")
    (tmp_path / "elsewhere").mkdir()
    (Path(workspace.root) / ".builders").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(OrchestratorError, match="builders must live inside the workspace"):
        await Orchestrator(workspace).create_builder("0015")
    assert list((tmp_path / "elsewhere").iterdir()) == []


async def test_builder_linked_elsewhere_is_refused(tmp_path: Path):
    workspace = make_demo_workspace(tmp_path / "ws")
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "precious.txt").write_text("keep me\n")
    (Path(workspace.root) / ".builders").mkdir()
    (Path(workspace.root) / ".builders" / "0015-x").symlink_to(tmp_path / "victim")

    with pytest.raises(OrchestratorError, match="leaves"):
        await Orchestrator(workspace).terminate_builder("0015-x", force=True)
    assert (tmp_path / "victim" / "precious.txt").read_text() == "keep me\n"


async def test_failure_mid_creation_rolls_back(orch: Orchestrator, all_repos: list[Path]):
    # a real failure half-way: domain-apis's post-checkout hook fails after its worktree exists,
    # once the other repositories' worktrees were made
    hook = all_repos[2] / ".git" / "hooks" / "post-checkout"
    hook.write_text("#!/bin/sh\necho 'hook: refusing checkout' >&2\nexit 1\n")
    hook.chmod(0o755)

    with pytest.raises(OrchestratorError, match="failed"):
        await orch.create_builder("0015")

    assert_nothing_created(all_repos[0], all_repos)
    assert list((all_repos[0] / ".builders").iterdir()) == []
    # and a later attempt, once the hook is gone, works
    hook.unlink()
    assert (await orch.create_builder("0015")).name == NAME


async def test_rollback_keeps_a_branch_that_moved(tmp_path: Path):
    # the rollback deletes only branches still at the commit they were made from
    workspace = make_demo_workspace(tmp_path / "ws", taskfile=False)
    root = Path(workspace.root)
    hook = root / "repos" / "domain-apis" / ".git" / "hooks" / "post-checkout"
    hook.write_text(
        "#!/bin/sh\n# someone commits on the new branch while the builder is being made\n"
        "git commit -q --allow-empty -m 'raced in'\nexit 1\n"
    )
    hook.chmod(0o755)

    with pytest.raises(OrchestratorError):
        await Orchestrator(workspace).create_builder("0015")

    assert BRANCH in branches(root / "repos" / "domain-apis")
    assert BRANCH not in branches(root / "repos" / "ai-dev")
    assert not (root / ".builders" / NAME).exists()


def test_init_repo_makes_a_commit(tmp_path: Path):
    init_repo(tmp_path / "r", {"a.txt": "a\n"})
    assert git(tmp_path / "r", "log", "--format=%s").strip() == "Initial commit"


async def test_broken_project_list_is_named_and_nothing_is_made(tmp_path: Path):
    workspace = make_demo_workspace(tmp_path / "ws")
    listing = Path(workspace.projectlist_path)
    listing.write_text(
        listing.read_text().replace('    title: "New Feature"', "    title: [unclosed")
    )

    for call in (
        Orchestrator(workspace).create_builder("0015"),
        Orchestrator(workspace).reconcile(),
    ):
        with pytest.raises(
            OrchestratorError, match=r"cannot read the project list: .*projectlist.md:\d+"
        ):
            await call
    assert not (Path(workspace.root) / ".builders").exists()

"""Terminate sees everything a person made, not only what `git status` shows (issue 11, item 3).

Each attack from the hostile-input campaign is reproduced: work that a plain terminate used to
delete while calling the builder clean. Afterwards the disk and the result are checked.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.orchestrator import Orchestrator, prune_archives
from tools.workspace import Workspace

from .gitcheck import git, worktree_paths

NAME = "0015-new-feature"


@pytest.fixture
def native(workspace: Workspace, tmp_path: Path) -> Orchestrator:
    return Orchestrator(workspace, backend="native", archive_dir=tmp_path / "state" / "archives")


def gitignored(wt: Path) -> str:
    (wt / ".gitignore").write_text(".env\n")
    git(wt, "add", ".gitignore")
    git(wt, "commit", "-qm", "Ignore .env")
    git(wt, "push", "-q", "origin", "HEAD")
    (wt / ".env").write_text("API_KEY=only-copy\n")
    return ".env"


def excludes_file(wt: Path) -> str:
    excludes = wt.parent.parent.parent / "global-excludes"
    excludes.write_text("NOTES.md\n")
    git(wt, "config", "core.excludesFile", str(excludes))
    (wt / "NOTES.md").write_text("three days of notes\n")
    return "NOTES.md"


def info_exclude(wt: Path) -> str:
    common = Path(git(wt, "rev-parse", "--git-common-dir").strip())
    common = common if common.is_absolute() else wt / common
    with (common / "info" / "exclude").open("a") as f:
        f.write("\nlocal-data/\n")
    (wt / "local-data").mkdir()
    (wt / "local-data" / "results.csv").write_text("1,2,3\n")
    return "local-data/"


IGNORED: dict[str, Callable[[Path], str]] = {
    "gitignore": gitignored,
    "core.excludesFile": excludes_file,
    "info/exclude": info_exclude,
}


@pytest.mark.parametrize("how", list(IGNORED))
async def test_ignored_files_block_a_plain_terminate(native: Orchestrator, how: str):
    builder = await native.create_builder("0015")
    wt = builder.path / "ai-dev"
    name = IGNORED[how](wt)
    before = (wt / name).read_bytes() if (wt / name).is_file() else None

    result = await native.terminate_builder(NAME)

    assert not result.done
    by_repo = {w.repo: w for w in result.report.worktrees}
    # listed apart from untracked files, and named in the report
    assert by_repo["ai-dev"].ignored == (name,)
    assert by_repo["ai-dev"].untracked == ()
    assert f"ignored: {name}" in result.report.render()
    assert (wt / name).exists()
    if before is not None:
        assert (wt / name).read_bytes() == before
    assert len(worktree_paths(Path(native.root) / "repos" / "ai-dev")) == 1


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
async def test_edits_hidden_from_git_status_block_a_plain_terminate(
    native: Orchestrator, flag: str
):
    builder = await native.create_builder("0015")
    wt = builder.path / "ai-dev"
    git(wt, "update-index", flag, "README.md")
    assert (await native.dirty_report(NAME)).clean  # marked but unchanged: nothing to lose
    (wt / "README.md").write_text("an edit git status does not show\n")
    assert git(wt, "status", "--porcelain") == ""

    result = await native.terminate_builder(NAME)

    assert not result.done
    assert {w.repo: w.hidden for w in result.report.worktrees}["ai-dev"] == ("README.md",)
    assert "edited, marked unchanged: README.md" in result.report.render()
    assert (wt / "README.md").read_text() == "an edit git status does not show\n"


async def test_regenerable_ignored_paths_do_not_block(native: Orchestrator):
    builder = await native.create_builder("0015")
    wt = builder.path / "ai-dev"
    (wt / ".gitignore").write_text("node_modules/\n*.pyc\nbuild/\n")
    git(wt, "add", ".gitignore")
    git(wt, "commit", "-qm", "Ignore build output")
    git(wt, "push", "-q", "origin", "HEAD")
    (wt / "node_modules" / "left-pad").mkdir(parents=True)
    (wt / "node_modules" / "left-pad" / "index.js").write_text("//\n")
    (wt / "src" / "__pycache__").mkdir()
    (wt / "src" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (wt / "build").mkdir()
    (wt / "build" / "out.o").write_bytes(b"\0")

    report = await native.dirty_report(NAME)

    tree = {w.repo: w for w in report.worktrees}["ai-dev"]
    assert report.clean
    assert tree.regenerable == ("build/", "node_modules/", "src/__pycache__/m.cpython-311.pyc")
    result = await native.terminate_builder(NAME)
    assert result.done and result.archive is None
    assert not builder.path.exists()


async def test_the_regenerable_list_is_a_setting(workspace: Workspace, tmp_path: Path):
    # `[builders] regenerable` in foreman.toml replaces the default list
    orch = Orchestrator(workspace, backend="native", regenerable=["*.log"])
    builder = await orch.create_builder("0015")
    wt = builder.path / "ai-dev"
    (wt / ".gitignore").write_text("*.log\nnode_modules/\n")
    git(wt, "add", ".gitignore")
    git(wt, "commit", "-qm", "Ignore logs")
    git(wt, "push", "-q", "origin", "HEAD")
    (wt / "run.log").write_text("noise\n")
    (wt / "node_modules").mkdir()
    (wt / "node_modules" / "x.js").write_text("//\n")

    result = await orch.terminate_builder(NAME)

    assert not result.done
    assert {w.repo: w.ignored for w in result.report.worktrees}["ai-dev"] == ("node_modules/",)


def make_everything_dirty(path: Path) -> dict[str, bytes]:
    """Every kind of unsaved work in one builder; the bytes a restore must bring back."""
    ai_dev, ws = path / "ai-dev", path / "workspace-root"
    gitignored(ai_dev)
    (ai_dev / "README.md").write_text("modified\n")
    (ai_dev / "staged.txt").write_text("staged\n")
    git(ai_dev, "add", "staged.txt")
    (ai_dev / "draft.txt").write_text("untracked\n")
    (ws / "notes").mkdir()
    (ws / "notes" / "idea.md").write_bytes(b"binary \x00\xff ok\n")
    git(ws, "update-index", "--assume-unchanged", "README.md")
    (ws / "README.md").write_text("hidden edit\n")
    (path / "domain-apis" / "src" / "__init__.py").write_text("stashed\n")
    git(path / "domain-apis", "stash", "push", "-q", "-m", "half done")
    (path / "TODO").write_text("outside any worktree\n")
    return {
        "ai-dev/.env": b"API_KEY=only-copy\n",
        "ai-dev/README.md": b"modified\n",
        "ai-dev/staged.txt": b"staged\n",
        "ai-dev/draft.txt": b"untracked\n",
        "workspace-root/notes/idea.md": b"binary \x00\xff ok\n",
        "workspace-root/README.md": b"hidden edit\n",
        "TODO": b"outside any worktree\n",
    }


async def test_forced_terminate_archives_everything_and_the_restore_command_works(
    native: Orchestrator, tmp_path: Path
):
    builder = await native.create_builder("0015")
    expected = make_everything_dirty(builder.path)

    result = await native.terminate_builder(NAME, force=True)

    assert result.done and result.forced
    assert not builder.path.exists()
    assert result.archive is not None
    assert result.archive.parent == tmp_path / "state" / "archives"
    assert oct(result.archive.stat().st_mode & 0o777) == "0o600"
    assert f"kept what was discarded in {result.archive} (30 days)" in result.render()
    with tarfile.open(result.archive) as tar:
        names = set(tar.getnames())
    assert set(expected) <= names
    assert ".foreman-archive/manifest.json" in names
    assert ".foreman-archive/ai-dev.staged.patch" in names
    assert ".foreman-archive/domain-apis.stash@{0}.patch" in names

    subprocess.run(["bash", "-c", result.restore], check=True, capture_output=True)

    for rel, content in expected.items():
        assert (builder.path / rel).read_bytes() == content, rel
    assert git(builder.path / "ai-dev", "branch", "--show-current").strip() == f"builder/{NAME}"


async def test_force_checks_the_content_it_was_shown(native: Orchestrator):
    builder = await native.create_builder("0015")
    (builder.path / "ai-dev" / "README.md").write_text("what the card showed\n")
    shown = await native.dirty_report(NAME, with_content=True)
    assert shown.fingerprint is not None
    # same file names, new bytes: the card's precondition must not match any more
    (builder.path / "ai-dev" / "README.md").write_text("written after the card\n")

    result = await native.terminate_builder(
        NAME, force=True, expected_fingerprint=shown.fingerprint
    )

    assert not result.done
    assert result.refused == "its work changed since it was shown; nothing was removed"
    assert (builder.path / "ai-dev" / "README.md").read_text() == "written after the card\n"
    again = await native.dirty_report(NAME, with_content=True)
    assert [w.modified for w in again.worktrees] == [w.modified for w in shown.worktrees]
    assert again.fingerprint != shown.fingerprint
    done = await native.terminate_builder(NAME, force=True, expected_fingerprint=again.fingerprint)
    assert done.done and done.archive is not None


def test_archives_older_than_the_retention_period_are_pruned(tmp_path: Path):
    archives = tmp_path / "archives"
    archives.mkdir()
    old, new = archives / "0015-a-1Z.tar.gz", archives / "0015-a-2Z.tar.gz"
    old.write_bytes(b"old")
    new.write_bytes(b"new")
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))

    removed = prune_archives(archives, retention_days=30)

    assert removed == [old]
    assert sorted(p.name for p in archives.iterdir()) == [new.name]

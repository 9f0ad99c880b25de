"""Terminate is all or nothing, and a builder half-made by a crash is shown and removable
(issue 11, item 4). Each attack is reproduced; the disk and the result are checked after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tools.orchestrator import Orchestrator
from tools.workspace import Workspace

from .gitcheck import branches, git, worktree_paths

NAME = "0015-new-feature"
BRANCH = f"builder/{NAME}"


def sources(workspace: Workspace) -> list[Path]:
    root = Path(workspace.root)
    return [root, root / "repos" / "ai-dev", root / "repos" / "domain-apis"]


@pytest.mark.parametrize("force", [False, True])
async def test_one_locked_worktree_stops_the_whole_terminate(
    workspace: Workspace, orch: Orchestrator, force: bool
):
    builder = await orch.create_builder("0015")
    (builder.path / "ai-dev" / "README.md").write_text("dirty, so force has work to discard\n")
    git(
        sources(workspace)[2],
        "worktree",
        "lock",
        "--reason",
        "on a USB disk",
        str(builder.path / "domain-apis"),
    )

    result = await orch.terminate_builder(NAME, force=force)

    assert not result.done
    assert "domain-apis is locked (on a USB disk): unlock it with git -C" in (result.refused or "")
    assert result.refused.endswith("nothing was removed")  # type: ignore[union-attr]
    assert result.archive is None
    assert sorted(p.name for p in builder.path.iterdir()) == [
        "ai-dev",
        "domain-apis",
        "workspace-root",
    ]
    for source in sources(workspace):
        assert len(worktree_paths(source)) == 1
    assert (builder.path / "ai-dev" / "README.md").read_text().startswith("dirty")


async def test_a_worktree_with_a_git_command_running_is_busy(orch: Orchestrator):
    builder = await orch.create_builder("0015")
    gitdir = Path(git(builder.path / "ai-dev", "rev-parse", "--git-dir").strip())
    (gitdir / "index.lock").write_text("")

    result = await orch.terminate_builder(NAME, force=True)

    assert not result.done
    assert "ai-dev is busy: a git command is running in it" in (result.refused or "")
    assert (builder.path / "workspace-root").is_dir() and (builder.path / "domain-apis").is_dir()


def run(workspace: Workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["builder", *args, "--workspace", str(workspace.root)])
    return result.exit_code, result.output.replace(str(workspace.root), "WS")


def test_an_empty_builder_folder_is_partial_and_a_plain_terminate_removes_it(
    workspace: Workspace,
):
    path = Path(workspace.root) / ".builders" / NAME
    path.mkdir(parents=True)

    code, listed = run(workspace, "list")
    assert code == 0
    assert listed == (
        f"{NAME} on {BRANCH} (partial: holds no worktree; "
        f"`foreman builder terminate {NAME}` removes it)\n"
    )
    code, out = run(workspace, "create", "0015", "--yes", "--backend", "native")
    assert code == 1
    assert f"Error: builder {NAME} is partial (holds no worktree); remove it first" in out

    code, out = run(workspace, "terminate", NAME, "--yes")

    assert code == 0, out
    assert not path.exists()


TASKFILE_THAT_HANGS = """\
version: '3'
tasks:
  builder:init:
    cmds:
      - mkdir -p '{{.ROOT_DIR}}/.builders/{{.BUILDER_NAME}}'
      - git worktree add -q -b 'builder/{{.BUILDER_NAME}}' '{{.ROOT_DIR}}/.builders/{{.BUILDER_NAME}}/workspace-root' HEAD
      - touch '%(signal)s'
      - sleep 120
  builder:cleanup:
    cmds:
      - 'true'
"""


def test_kill_9_during_a_taskfile_create_leaves_a_partial_builder_that_terminate_removes(
    workspace: Workspace, tmp_path: Path
):
    root = Path(workspace.root)
    started = tmp_path / "init-started"
    (root / "Taskfile.yaml").write_text(TASKFILE_THAT_HANGS % {"signal": started})
    foreman = [sys.executable, "-m", "assistant", "builder", "create", "0015", "--yes"]
    process = subprocess.Popen(
        [*foreman, "--workspace", str(root), "--backend", "taskfile"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "builder:init never reached its first worktree"
    os.killpg(process.pid, signal.SIGKILL)  # foreman, task and sleep: no cleanup runs
    process.wait()
    path = root / ".builders" / NAME
    assert (path / "workspace-root" / ".git").is_file()
    assert not (path / "ai-dev").exists()

    code, listed = run(workspace, "list")
    assert code == 0
    assert listed.startswith(
        f"{NAME} on {BRANCH} (partial: its create was interrupted before every worktree was "
        f"made; `foreman builder terminate {NAME}` removes it)\n  workspace-root: clean"
    )
    code, reconciled = run(workspace, "reconcile")
    assert f"partial builder .builders/{NAME}: its create was interrupted" in reconciled
    code, refused = run(workspace, "create", "0015", "--yes", "--backend", "native")
    assert code == 1 and f"builder {NAME} is partial" in refused

    code, out = run(workspace, "terminate", NAME, "--yes", "--backend", "taskfile")

    assert code == 0, out
    assert not path.exists()
    assert sorted(p.name for p in (root / ".builders").iterdir()) == []  # marker gone too
    assert worktree_paths(root) == []
    # the branch the crash made held nothing: it goes, so the same create can run again
    assert BRANCH not in branches(root)
    code, out = run(workspace, "create", "0015", "--yes", "--backend", "native")
    assert code == 0, out
    assert len(worktree_paths(root / "repos" / "ai-dev")) == 1


async def test_a_partial_builder_with_work_in_it_is_kept(workspace: Workspace, orch: Orchestrator):
    builder = await orch.create_builder("0015")
    (builder.path / ".." / f".{NAME}.creating").write_text(
        '{"branch": "x", "pid": 0, "heads": {}, "sources": {}}'
    )
    (builder.path / "ai-dev" / "notes.txt").write_text("written after the crash\n")

    result = await orch.terminate_builder(NAME)

    assert not result.done
    assert result.report.partial == "its create was interrupted before every worktree was made"
    assert (builder.path / "ai-dev" / "notes.txt").read_text() == "written after the crash\n"

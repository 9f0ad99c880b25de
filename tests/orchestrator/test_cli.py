"""`foreman builder ...` as a user runs it: output, refusals and exit codes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from inline_snapshot import snapshot

from assistant.cli import cli
from tools.workspace import Workspace

from .gitcheck import git


def run(workspace: Workspace, *args: str) -> Result:
    root = str(workspace.root)
    result = CliRunner().invoke(cli, ["builder", *args, "--workspace", root, "--backend", "native"])
    # paths differ per run; the rest of the output is what a user sees
    text = re.sub(r"\S+/archives/[\w.-]+Z\.tar\.gz", "ARCHIVE", result.output)
    result.text = text.replace(root, "WS")  # type: ignore[attr-defined]
    return result


def test_create_needs_approval_without_a_terminal(workspace: Workspace):
    result = run(workspace, "create", "0015")

    assert result.exit_code == 1
    assert result.text == snapshot("""\
create builder 0015-new-feature for 0015 'New Feature': workspace-root, ai-dev, domain-apis
Error: Create builder 0015-new-feature: needs your approval; pass --yes (no terminal to ask on)
""")
    assert not (Path(workspace.root) / ".builders" / "0015-new-feature").exists()


def test_create_list_status(workspace: Workspace):
    created = run(workspace, "create", "0015", "--yes")
    assert created.exit_code == 0
    assert created.text == snapshot("""\
create builder 0015-new-feature for 0015 'New Feature': workspace-root, ai-dev, domain-apis
builder 0015-new-feature created at WS/.builders/0015-new-feature (branch builder/0015-new-feature)
  workspace-root: WS/.builders/0015-new-feature/workspace-root
  ai-dev: WS/.builders/0015-new-feature/ai-dev
  domain-apis: WS/.builders/0015-new-feature/domain-apis
  no OpenCode server configured (FOREMAN_OPENCODE_URL); no session was started
""")
    assert run(workspace, "create", "0015", "--name", "bridge", "--yes").exit_code == 0

    listed = run(workspace, "list")

    assert listed.exit_code == 0
    assert listed.text == snapshot("""\
0015-bridge on builder/0015-bridge (clean)
  workspace-root: clean, no upstream, last f0427ee Workspace with project list
  ai-dev: clean, no upstream, last f37de74 Initial commit
  domain-apis: clean, no upstream, last c5ed8db Initial commit
0015-new-feature on builder/0015-new-feature (clean)
  workspace-root: clean, no upstream, last f0427ee Workspace with project list
  ai-dev: clean, no upstream, last f37de74 Initial commit
  domain-apis: clean, no upstream, last c5ed8db Initial commit
""")
    as_json = json.loads(run(workspace, "list", "--json").output)
    assert [b["name"] for b in as_json] == ["0015-bridge", "0015-new-feature"]
    ai_dev = as_json[0]["worktrees"][1]
    assert ai_dev.pop("path") == str(Path(workspace.root) / ".builders" / "0015-bridge" / "ai-dev")
    assert ai_dev == snapshot(
        {
            "repo": "ai-dev",
            "branch": "builder/0015-bridge",
            "clean": True,
            "modified": 0,
            "staged": 0,
            "untracked": 0,
            "upstream": None,
            "ahead": None,
            "behind": None,
            "last_commit": {
                "sha": "f37de74",
                "subject": "Initial commit",
                "date": "2026-01-05T09:00:00+00:00",
            },
            "problem": None,
            "ignored": 0,
            "hidden": 0,
            "unpushed": 0,
            "stashes": 0,
        }
    )

    status = run(workspace, "status", "0015-bridge")
    assert status.exit_code == 0
    assert status.text == snapshot("""\
0015-bridge on builder/0015-bridge (clean)
  workspace-root: clean, no upstream, last f0427ee Workspace with project list
  ai-dev: clean, no upstream, last f37de74 Initial commit
  domain-apis: clean, no upstream, last c5ed8db Initial commit
  no OpenCode server configured (FOREMAN_OPENCODE_URL); no session was started
  spent $0.00 · 0 tokens (0 in, 0 out) over 0 model calls; no budget
""")


def test_terminate_refusal_prints_the_report_and_exits_1(workspace: Workspace):
    run(workspace, "create", "0015", "--yes")
    wt = Path(workspace.root) / ".builders" / "0015-new-feature"
    (wt / "ai-dev" / "README.md").write_text("edited\n")
    (wt / "domain-apis" / "draft.py").write_text("")

    refused = run(workspace, "terminate", "0015-new-feature", "--yes")

    assert refused.exit_code == 1
    assert refused.text == snapshot("""\
0015-new-feature holds work that would be lost:
workspace-root: clean
ai-dev:
  modified: README.md
domain-apis:
  untracked: draft.py
Error: 0015-new-feature was not terminated: nothing was removed (commit and push, or pass --force to archive the work and remove it)
""")
    assert (wt / "ai-dev" / "README.md").read_text() == "edited\n"

    forced = run(workspace, "terminate", "0015-new-feature", "--force", "--yes")
    assert forced.exit_code == 0
    assert forced.text == snapshot("""\
0015-new-feature holds work that would be lost:
workspace-root: clean
ai-dev:
  modified: README.md
domain-apis:
  untracked: draft.py
builder 0015-new-feature terminated (forced)
  kept what was discarded in ARCHIVE (30 days)
  restore with: git -C WS worktree add WS/.builders/0015-new-feature/workspace-root builder/0015-new-feature && git -C WS/repos/ai-dev worktree add WS/.builders/0015-new-feature/ai-dev builder/0015-new-feature && git -C WS/repos/domain-apis worktree add WS/.builders/0015-new-feature/domain-apis builder/0015-new-feature && mkdir -p WS/.builders/0015-new-feature && tar -xzf ARCHIVE -C WS/.builders/0015-new-feature --exclude=.foreman-archive
  removed WS/.builders/0015-new-feature/workspace-root
  removed WS/.builders/0015-new-feature/ai-dev
  removed WS/.builders/0015-new-feature/domain-apis
  removed WS/.builders/0015-new-feature
  branch builder/0015-new-feature kept in workspace-root, ai-dev, domain-apis
""")
    assert not wt.exists()


def test_terminate_without_approval_is_refused(workspace: Workspace):
    run(workspace, "create", "0015", "--yes")

    result = run(workspace, "terminate", "0015-new-feature")

    assert result.exit_code == 1
    assert result.text == snapshot(
        "Error: Remove builder 0015-new-feature: needs your approval; pass --yes (no terminal to ask on)\n"
    )
    assert (Path(workspace.root) / ".builders" / "0015-new-feature").is_dir()


def test_errors_name_what_is_wrong(workspace: Workspace):
    unsafe = run(workspace, "status", "../../etc")
    assert unsafe.exit_code == 1
    assert unsafe.text == snapshot(
        "Error: unsafe builder name '../../etc': use letters, digits and . _ - (not first), without '..'\n"
    )
    missing = run(workspace, "create", "0015", "--repos", "ai-dev,nope", "--yes")
    assert missing.exit_code == 1
    assert missing.text == snapshot(
        "Error: repository nope not found: WS/repos/nope does not exist\n"
    )


def test_reconcile_and_sync(workspace: Workspace):
    run(workspace, "create", "0015", "--yes")

    reconciled = run(workspace, "reconcile")
    assert reconciled.exit_code == 0
    assert reconciled.text == snapshot("""\
builder 0015-new-feature: project 0015 is planned, not implementing
project 0014 is implementing but has no builder
""")
    assert json.loads(run(workspace, "reconcile", "--json").output)["in_sync"] is False

    synced = run(workspace, "sync", "0015-new-feature")
    assert synced.exit_code == 0
    assert synced.text == snapshot("""\
sync 0015-new-feature:
  workspace-root: not pushed, no remote configured
  ai-dev: pushed builder/0015-new-feature to origin (0 new commits)
  domain-apis: pushed builder/0015-new-feature to origin (0 new commits)
""")


def test_status_and_terminate_share_one_report(workspace: Workspace):
    run(workspace, "create", "0015", "--yes")
    wt = Path(workspace.root) / ".builders" / "0015-new-feature"
    (wt / "ai-dev" / "README.md").write_text("committed, never pushed\n")
    git(wt / "ai-dev", "commit", "-qam", "Local only")
    (wt / "domain-apis" / "README.md").write_text("stashed\n")
    git(wt / "domain-apis", "stash", "push", "-q", "-m", "half done")
    (wt / "TODO").write_text("stray\n")

    status = run(workspace, "status", "0015-new-feature")

    assert status.exit_code == 0
    lines = status.text.splitlines()
    assert lines[0] == "0015-new-feature on builder/0015-new-feature (dirty)"
    assert lines[2].startswith("  ai-dev: 1 unpushed commit, no upstream, last ")
    assert lines[3].startswith("  domain-apis: 1 stash, no upstream, last ")
    assert lines[4] == "  outside any worktree: TODO"
    refused = run(workspace, "terminate", "0015-new-feature", "--yes")
    assert refused.exit_code == 1
    assert "  unpushed commit: " in refused.text and "Local only" in refused.text
    assert "  stash: stash@{0}: On builder/0015-new-feature: half done" in refused.text
    assert "outside any worktree: TODO" in refused.text
    assert refused.text.endswith(
        "Error: 0015-new-feature was not terminated: nothing was removed "
        "(commit and push, or pass --force to archive the work and remove it)\n"
    )


def test_create_finds_a_project_by_its_number(workspace: Workspace):
    # the project list's own lookup, as `foreman project 16` uses: 16 is 0016
    created = run(workspace, "create", "16", "--yes")

    assert created.exit_code == 0, created.text
    assert created.text.startswith("create builder 0016-voice-notes for 0016 ")
    assert (Path(workspace.root) / ".builders" / "0016-voice-notes" / "workspace-root").is_dir()


def test_auto_backend_falls_back_to_native_without_task(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FOREMAN_TASK_BIN", str(Path(workspace.root) / "no-such-task"))
    root = str(workspace.root)

    result = CliRunner().invoke(cli, ["builder", "create", "0015", "--yes", "--workspace", root])

    assert result.exit_code == 0, result.output
    assert (Path(root) / ".builders" / "0015-new-feature" / "ai-dev" / ".git").is_file()


def test_regenerable_paths_come_from_foreman_toml(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = tmp_path / "foreman.toml"
    config.write_text('[builders]\nregenerable = ["*.log"]\n')
    monkeypatch.setenv("FOREMAN_CONFIG", str(config))
    run(workspace, "create", "0015", "--yes")
    wt = Path(workspace.root) / ".builders" / "0015-new-feature" / "ai-dev"
    (wt / ".git-info-exclude-test").write_text("")
    common = Path(workspace.root) / "repos" / "ai-dev" / ".git" / "info" / "exclude"
    common.write_text("*.log\n.git-info-exclude-test\n")
    (wt / "run.log").write_text("noise\n")

    refused = run(workspace, "terminate", "0015-new-feature", "--yes")

    # *.log is regenerable by the setting; the other ignored file is someone's
    assert refused.exit_code == 1
    assert "  ignored: .git-info-exclude-test\n" in refused.text
    assert "run.log" not in refused.text


def test_a_failed_push_is_an_error_line(workspace: Workspace):
    run(workspace, "create", "0015", "--yes")
    shutil.rmtree(Path(workspace.root) / "remotes" / "ai-dev.git")  # the remote is gone

    synced = run(workspace, "sync", "0015-new-feature")

    assert synced.exit_code == 1
    assert "  ai-dev: push to origin failed: " in synced.text
    assert synced.text.endswith("Error: 0015-new-feature: the push failed for ai-dev; see above\n")

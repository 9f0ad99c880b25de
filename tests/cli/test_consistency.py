"""One rule each, as a user meets them at the shell: what is printed, the exit code, the disk."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli

REPO = Path(__file__).resolve().parents[2]


def test_project_json_has_the_entry_as_written(workspace: Path) -> None:
    result = CliRunner().invoke(cli, ["project", "15", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["source"] == snapshot(
        '  - id: "0015"\n    title: "Evals"\n    status: conceived\n    repos: [foreman]\n'
    )


def test_one_project_is_one_project(workspace: Path) -> None:
    result = CliRunner().invoke(cli, ["projects", "--status", "planned"])
    assert result.stdout.splitlines()[-1] == snapshot(
        "1 of 3 projects in .ai/projectlist.md (ai format)"
    )
    alone = CliRunner().invoke(cli, ["projects", "--file", str(_one_project(workspace))])
    assert alone.stdout.splitlines()[-1].startswith("1 project in ")


def _one_project(workspace: Path) -> Path:
    path = workspace / "one.md"
    path.write_text('```yaml\nprojects:\n  - id: "0001"\n    title: A\n    status: planned\n```\n')
    return path


def test_status_set_on_hold_writes_the_canonical_form_without_a_warning(workspace: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "set", "0016", "on_hold", "--yes"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    text = (workspace / ".ai" / "projectlist.md").read_text()
    assert "    status: on-hold\n" in text and "on_hold" not in text
    check = CliRunner().invoke(cli, ["check"])
    assert (check.exit_code, "on_hold" in check.output) == (0, False)


def test_a_status_change_to_the_same_status_is_refused_and_leaves_no_trace(
    workspace: Path,
) -> None:
    before = (workspace / ".ai" / "projectlist.md").read_bytes()
    result = CliRunner().invoke(cli, ["status", "set", "14", "implementing", "--yes"])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == snapshot("Error: 0014 is already implementing; nothing to change\n")
    assert (workspace / ".ai" / "projectlist.md").read_bytes() == before
    audit = CliRunner().invoke(cli, ["audit"])
    assert audit.stdout == snapshot(
        "The audit log of this workspace is empty: nothing has been changed yet.\n"
    )


def test_git_commit_covers_status_set_and_a_failed_commit_is_one_line(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREMAN_GIT_COMMIT", "1")
    # not a git repository yet: the change stands, the commit is refused in one line
    result = CliRunner().invoke(cli, ["status", "set", "0015", "specified", "--yes"])
    assert result.exit_code == 1
    assert result.stderr.replace(str(workspace), "WS") == snapshot(
        "Error: the change was written, but not committed: WS is not inside a git repository\n"
    )
    assert "status: specified" in (workspace / ".ai" / "projectlist.md").read_text()

    git = ["git", "-C", str(workspace), "-c", "user.name=T", "-c", "user.email=t@e"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "T")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@e")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "T")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@e")
    result = CliRunner().invoke(cli, ["status", "set", "0015", "planned", "--yes"])
    assert result.exit_code == 0, result.output
    assert "committed " in result.stdout
    log = subprocess.run(
        [*git, "log", "-1", "--format=%s"], capture_output=True, text=True, check=True
    )
    assert log.stdout == "0015: specified → planned\n"
    clean = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
    assert clean.stdout == ""


def test_history_of_a_builder_with_nothing_relayed_is_not_an_error(workspace: Path) -> None:
    (workspace / ".builders" / "0014-telegram-relay").mkdir(parents=True)
    quiet = CliRunner().invoke(cli, ["history", "0014-telegram-relay"])
    assert (quiet.exit_code, quiet.stdout) == (
        0,
        "No relayed exchanges for 0014-telegram-relay yet.\n",
    )
    unknown = CliRunner().invoke(cli, ["history", "0099-nobody"])
    assert unknown.exit_code == 1
    assert unknown.stderr.replace(str(workspace.resolve()), "WS") == snapshot(
        "Error: no builder 0099-nobody in WS and nothing relayed for it (foreman builder list)\n"
    )


def test_doctor_and_chat_read_foreman_toml(tmp_path: Path, workspace: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "foreman.toml").write_text(f'workspace = "{workspace}"\nmodel = "offline"\n')
    doctor = subprocess.run(
        [sys.executable, "-m", "assistant", "doctor", "--json"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=_env(),
    )
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["workspace"]["data"]["root"] == str(workspace)
    assert checks["model"]["detail"].startswith("offline: the scripted policy")
    chat = subprocess.run(
        [sys.executable, "-m", "assistant", "chat"],
        cwd=elsewhere,
        input="show me the projects\n",
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert chat.returncode == 0, chat.stderr
    assert "model: offline" in chat.stdout and "Telegram relay" in chat.stdout


def test_doctor_changes_nothing_and_loads_no_model_stack(tmp_path: Path, workspace: Path) -> None:
    state = tmp_path / "fresh-state"
    code = (
        "import sys\n"
        "from assistant.cli import cli\n"
        "try:\n"
        "    cli(['doctor'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic_ai', 'anthropic', 'openai', 'telegram', 'neonize'))\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workspace,
        capture_output=True,
        text=True,
        env={**_env(), "FOREMAN_STATE_DIR": str(state), "PYTHONPATH": str(REPO)},
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("ok    state ")]
    assert line.split(None, 2)[2] == f"{state} (created on first use)"
    assert not state.exists()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


def test_builder_create_and_a_forced_terminate_are_in_the_audit_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.orchestrator import make_demo_workspace

    workspace = make_demo_workspace(tmp_path / "demo")
    monkeypatch.chdir(workspace.root)
    runner = CliRunner()
    made = runner.invoke(cli, ["builder", "create", "16", "--yes", "--backend", "native"])
    assert made.exit_code == 0, made.output
    (workspace.root / ".builders" / "0016-voice-notes" / "workspace-root" / "draft.md").write_text(
        "x"
    )
    gone = runner.invoke(
        cli, ["builder", "terminate", "0016-voice-notes", "--force", "--yes", "--backend", "native"]
    )
    assert gone.exit_code == 0, gone.output
    entries = json.loads(runner.invoke(cli, ["audit", "--json"]).stdout)
    assert [(e["action"], e["details"]["builder"], e["actor"][:9]) for e in entries] == [
        ("builder.created", "0016-voice-notes", "terminal:"),
        ("builder.terminated", "0016-voice-notes", "terminal:"),
    ]
    terminated = entries[1]["details"]
    assert terminated["forced"] is True and "draft.md" in terminated["discarded"]
    assert terminated["archive"] and Path(terminated["archive"]).is_file()
    text = runner.invoke(cli, ["audit", "--last", "1"]).stdout
    assert text.endswith("builder.terminated  0016-voice-notes (forced)\n")

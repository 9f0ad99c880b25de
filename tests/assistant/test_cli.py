"""`foreman demo`, `foreman chat` and `foreman approvals` as a user runs them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from assistant.cli.chat import terminal_chat, terminal_principal
from tests.assistant.scripted_chat import dm


def _foreman(
    *args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**_plain_env(), **(env or {})},
    )


def _plain_env() -> dict[str, str]:
    # Rendered as a user's pipe sees it: 100 columns, no forced colours.
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    return {**env, "COLUMNS": "100", "NO_COLOR": "1"}


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def test_demo_plays_the_whole_story_offline(tmp_path):
    env = {k: v for k, v in _plain_env().items() if not k.endswith("_API_KEY")}
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "demo", str(tmp_path / "demo")],
        cwd=_repo_root(),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # the story, in order
    steps = [
        "you> show me all sessions",
        "0014-ironman-training (unsaved: ai-dev: 1 untracked)",
        "you> I want to start working on project 0015",
        "Set 0015 New Feature: planned → implementing",
        "✓ 0015: planned → implementing",
        "✓ Builder 0015-new-feature created",
        "you> wrap up 0014",
        "Terminate will be refused while this work exists.",
        "✗ Refused to terminate 0014-ironman-training",
        "[1] Keep  [2] Force terminate",
        "FORCE terminate builder 0014-ironman-training",
        "✓ Builder 0014-ironman-training terminated",
        "0015 implementing New Feature [builders: 0015-new-feature]",
        "Demo done",
    ]
    position = 0
    for step in steps:
        found = out.find(step, position)
        assert found >= 0, f"missing or out of order: {step!r}\n{out}"
        position = found
    # The whole transcript, with approval ids, paths and timings made stable.
    shown = re.sub(r"\b[2-9b-z]{6}\b(?= needed| ·|$|\n)", "ID", out)
    shown = re.sub(r"(approve|reject) [2-9b-z]{6}", r"\1 ID", shown)
    shown = shown.replace(str(tmp_path), "<tmp>")
    shown = re.sub(r"Demo done in [\d.]+s", "Demo done in Ns", shown)
    shown = re.sub(r"\d+ input tokens, \d+ output tokens", "N input tokens, N output tokens", shown)
    assert shown == snapshot("""\
   (demo workspace: <tmp>/demo/workspace)
   (state: <tmp>/demo/state)
   (builder 0014-ironman-training has an uncommitted file: training-plan.md)

you> show me all sessions
foreman> Projects:
0013 integrated Slack Gateway
0014 implementing Ironman Training [builders: 0014-ironman-training]
0015 planned New Feature
0016 conceived Voice Notes
Builders:
• 0014-ironman-training (unsaved: ai-dev: 1 untracked)

you> I want to start working on project 0015
foreman> Moving 0015 to implementing and creating its builder.
╭──────────────────────────────────────── approval needed ─────────────────────────────────────────╮
│ Approval ID needed:                                                                          │
│ Set 0015 New Feature: planned → implementing                                                     │
│ .ai/projectlist.md: 0015: status planned → implementing (line 34)                                │
│ Reason: starting work                                                                            │
│ Reply yes or no, or /approve ID · /reject ID                                             │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯
╭──────────────────────────────────────── approval needed ─────────────────────────────────────────╮
│ Approval ID needed:                                                                          │
│ Create builder 0015-new-feature for 0015 New Feature                                             │
│ Worktrees on branch builder/0015-new-feature: workspace-root, ai-dev, domain-apis                │
│ Reply yes or no, or /approve ID · /reject ID                                             │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯

you> /approve ID
foreman> ✓ 0015: planned → implementing
0015: status planned → implementing (line 34)

you> /approve ID
foreman> ✓ Builder 0015-new-feature created at .builders/0015-new-feature
   (on disk: .builders/0015-new-feature/{ai-dev, domain-apis, workspace-root})

you> wrap up 0014
foreman> Marking 0014 implemented and terminating its builder.
╭──────────────────────────────────────── approval needed ─────────────────────────────────────────╮
│ Approval ID needed:                                                                          │
│ Set 0014 Ironman Training: implementing → implemented                                            │
│ .ai/projectlist.md: 0014: status implementing → implemented (line 18)                            │
│ Reason: wrapping up                                                                              │
│ Reply yes or no, or /approve ID · /reject ID                                             │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯
╭──────────────────────────────────────── approval needed ─────────────────────────────────────────╮
│ Approval ID needed:                                                                          │
│ Terminate builder 0014-ironman-training                                                          │
│ • ai-dev: untracked: training-plan.md                                                            │
│ Terminate will be refused while this work exists.                                                │
│ Reply yes or no, or /approve ID · /reject ID                                             │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯

you> /approve ID
foreman> ✓ 0014: implementing → implemented
0014: status implementing → implemented (line 18)

you> /approve ID
foreman> ✗ Refused to terminate 0014-ironman-training: it holds work that exists nowhere else
• ai-dev: untracked: training-plan.md
Keep the builder, or force-terminate it (discards the work above)?
         [1] Keep  [2] Force terminate
   (training-plan.md is still there: True)

you> [Force terminate]
╭──────────────────────────────────────── approval needed ─────────────────────────────────────────╮
│ Approval ID needed:                                                                          │
│ FORCE terminate builder 0014-ironman-training                                                    │
│ This discards:                                                                                   │
│ • ai-dev: untracked: training-plan.md                                                            │
│ Reply yes or no, or /approve ID · /reject ID                                             │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯

you> [Approve]
foreman> ✓ Builder 0014-ironman-training terminated; what it discarded is archived in \n\
<tmp>/demo/state/archives for 30 days

you> show me all sessions
foreman> Projects:
0013 integrated Slack Gateway
0014 implemented Ironman Training
0015 implementing New Feature [builders: 0015-new-feature]
0016 conceived Voice Notes
Builders:
• 0015-new-feature (clean)

you> /usage
foreman> This chat: 6 model requests, N input tokens, N output tokens.

Demo done in Ns, 6 scripted model requests.
Workspace: <tmp>/demo/workspace
State: <tmp>/demo/state
""")
    workspace = tmp_path / "demo" / "workspace"
    assert (workspace / ".builders" / "0015-new-feature" / "ai-dev").is_dir()
    assert not (workspace / ".builders" / "0014-ironman-training").exists()
    assert (tmp_path / "demo" / "state" / "foreman.db").is_file()


def test_demo_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "x").write_text("mine")
    result = CliRunner().invoke(cli, ["demo", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not empty" in result.output
    assert (tmp_path / "x").read_text() == "mine"


def test_chat_reads_stdin_asks_y_n_and_keeps_history(workspace, tmp_path):
    state = {"FOREMAN_STATE_DIR": str(tmp_path / "chat-state")}
    first = _foreman(
        "chat",
        "--workspace",
        str(workspace.root),
        cwd=_repo_root(),
        env=state,
        stdin="/projects\n/status 0015 implementing\ny\nhello there\n",
    )
    assert first.returncode == 0, first.stderr
    assert "0015 · planned · New Feature" in first.stdout
    assert "Approve? [y/N]" in first.stdout
    assert "✓ 0015: planned → implementing" in first.stdout
    assert "set ANTHROPIC_API_KEY" in first.stdout
    assert "Traceback" not in first.stderr
    assert "status: implementing" in workspace.projectlist_path.read_text()

    # A second run of the terminal chat continues the same conversation (state on disk).
    second = _foreman(
        "chat",
        "--workspace",
        str(workspace.root),
        cwd=_repo_root(),
        env={**state, "FOREMAN_MODEL": "test"},
        stdin="hi\n/usage\n",
    )
    assert second.returncode == 0, second.stderr
    assert re.search(r"This chat: [1-9]\d* model requests", second.stdout), second.stdout
    third = _foreman(
        "chat", "--workspace", str(workspace.root), cwd=_repo_root(), env=state, stdin="/usage\n"
    )
    assert re.search(r"This chat: [1-9]\d* model requests", third.stdout), third.stdout


def test_chat_rejects_unless_y(workspace, tmp_path):
    before = workspace.projectlist_path.read_bytes()
    result = _foreman(
        "chat",
        "--workspace",
        str(workspace.root),
        cwd=_repo_root(),
        stdin="/status 0015 implementing\n\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Rejected" in result.stdout
    assert workspace.projectlist_path.read_bytes() == before


def test_chat_survives_ctrl_c(workspace, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat", "--workspace", str(workspace.root)],
        cwd=_repo_root(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        proc.stdin.write("/projects\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 30
        seen = ""
        while "0013" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "0013" in seen
    assert proc.returncode == 0
    assert "bye" in out
    assert "Traceback" not in err


def test_approvals_cli_lists_and_approves_the_terminal_users_cards(make_service, workspace):
    svc = make_service(None)
    me = terminal_principal()
    approval = asyncio.run(
        svc.desk.request(
            me,
            terminal_chat(),
            "set_project_status",
            {"id": "0016", "status": "specified", "reason": "spec written"},
        )
    )
    runner = CliRunner()
    listed = runner.invoke(cli, ["approvals"], env={"COLUMNS": "100"})
    assert listed.exit_code == 0, listed.output
    shown = listed.output.replace(approval.id, "ID").replace(me.key, "terminal:ME")
    # Column widths follow the user name: compare the cells.
    assert [" ".join(line.split()) for line in shown.splitlines()] == snapshot(
        [
            "id state for action",
            "ID pending terminal:ME Set 0016 Voice Notes: conceived → specified",
        ]
    )

    as_json = runner.invoke(cli, ["approvals", "list", "--json"])
    assert '"tool": "set_project_status"' in as_json.output

    done = runner.invoke(
        cli, ["approvals", "approve", approval.id, "--workspace", str(workspace.root)]
    )
    assert done.exit_code == 0, done.output
    assert "✓ 0016: conceived → specified" in done.output
    assert "status: specified" in workspace.projectlist_path.read_text()

    again = runner.invoke(
        cli, ["approvals", "approve", approval.id, "--workspace", str(workspace.root)]
    )
    assert again.exit_code == 1
    assert "already done" in again.output

    missing = runner.invoke(
        cli, ["approvals", "reject", "nope42", "--workspace", str(workspace.root)]
    )
    assert missing.exit_code == 1
    assert missing.stderr == snapshot(
        "Error: no approval nope42 (foreman approvals --all lists recent ones)\n"
    )


def test_approvals_cli_cannot_approve_someone_elses_card(make_service, workspace):
    svc = make_service(None)
    [card] = asyncio.run(svc.handle(dm("/status 0015 implementing")))
    before = workspace.projectlist_path.read_bytes()
    result = CliRunner().invoke(
        cli, ["approvals", "approve", card.extra["approval_id"], "--workspace", str(workspace.root)]
    )
    assert result.exit_code == 1
    assert "only be resolved by the person it was asked of" in result.output
    assert workspace.projectlist_path.read_bytes() == before


def test_demo_interactive_leaves_the_user_in_chat(tmp_path):
    result = _foreman(
        "demo", str(tmp_path / "d"), "--interactive", cwd=_repo_root(), stdin="/projects\n"
    )
    assert result.returncode == 0, result.stderr
    chat = result.stdout.split("You are now in `foreman chat`", 1)[1]
    assert "0015 · implementing · New Feature · 🔨 0015-new-feature" in chat
    assert chat.rstrip().endswith("bye")


def test_doctor_reports_the_model_key_and_prompt_chars(workspace, monkeypatch):
    import json

    from assistant.agent import prompt_chars

    result = CliRunner().invoke(cli, ["doctor", "--json", "--workspace", str(workspace.root)])
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert checks["prompt"]["data"]["prompt_chars"] == prompt_chars() <= 8000
    assert checks["model"]["data"] == {
        "model": "anthropic:claude-sonnet-4-5",
        "key_env": "ANTHROPIC_API_KEY",
        "key_set": False,
    }
    monkeypatch.setenv("FOREMAN_MODEL", "openai:gpt-5")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    result = CliRunner().invoke(cli, ["doctor", "--json", "--workspace", str(workspace.root)])
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert checks["model"]["detail"] == "openai:gpt-5: key found"
    assert "sk-test" not in result.output


def test_approvals_cli_finds_the_cards_workspace_and_no_other(
    make_service, workspace, tmp_path, monkeypatch
):
    from tools.orchestrator import make_demo_workspace

    svc = make_service(None)
    approval = asyncio.run(
        svc.desk.request(
            terminal_principal(),
            terminal_chat(),
            "set_project_status",
            {"id": "0015", "status": "implementing", "reason": "go"},
        )
    )
    other = make_demo_workspace(tmp_path / "other")
    before = other.projectlist_path.read_bytes()
    wrong = CliRunner().invoke(
        cli, ["approvals", "approve", approval.id, "--workspace", str(other.root)]
    )
    assert wrong.exit_code == 1
    assert "belongs to the workspace" in wrong.output
    assert other.projectlist_path.read_bytes() == before

    monkeypatch.chdir(tmp_path)  # no workspace here: the card's own is used
    done = CliRunner().invoke(cli, ["approvals", "approve", approval.id])
    assert done.exit_code == 0, done.output
    assert "status: implementing" in workspace.projectlist_path.read_text()


def test_slash_commands_in_chat_do_not_load_the_model_stack(workspace):
    code = (
        "import sys\n"
        "from assistant.cli import cli\n"
        f"cli(['chat', '--workspace', {str(workspace.root)!r}], standalone_mode=False)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic_ai', 'anthropic', 'openai'))\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=_repo_root(),
        input="/projects\n/builders\n/usage\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "0015 · planned · New Feature" in result.stdout
    assert result.stdout.splitlines()[-1] == "HEAVY []"

"""`foreman demo`, `foreman chat` and `foreman approvals` as a user runs them."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
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


@pytest.fixture
def data_home() -> Iterator[Path]:
    """A per-user data directory with a short path of fixed length, so no line wraps in it."""
    path = Path(tempfile.mkdtemp(prefix="fd"))
    yield path
    shutil.rmtree(path)


def test_demo_plays_the_whole_story_offline(tmp_path, data_home):
    # the user's own setting: no FOREMAN_STATE_DIR, the per-user data directory under here
    env = {
        **{k: v for k, v in _plain_env().items() if not k.endswith("_API_KEY")},
        "XDG_DATA_HOME": str(data_home),
        "FOREMAN_STATE_DIR": "",  # unset
    }
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
    shown = shown.replace(str(tmp_path), "<tmp>").replace(str(data_home), "<data>")
    shown = re.sub(r"workspace-[0-9a-f]{8}\b", "workspace-HASH", shown)
    shown = re.sub(r"Demo done in [\d.]+s", "Demo done in Ns", shown)
    shown = re.sub(r"\d+ input tokens, \d+ output tokens", "N input tokens, N output tokens", shown)
    assert shown == snapshot("""\
   (demo workspace: <tmp>/demo/workspace)
   (state: <data>/foreman/workspaces/workspace-HASH)
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
│ Diffstat of what would be lost:                                                                  │
│ • ai-dev, uncommitted: 1 file, +2 −0 — training-plan.md +2 −0                                    │
│ The full patch: the Patch button, or foreman builder diff 0014-ironman-training --patch          │
│ Reply yes or no, or /approve ID · /reject ID                                             │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯

you> /approve ID
foreman> ✓ 0014: implementing → implemented
0014: status implementing → implemented (line 18)

you> /approve ID
foreman> ✗ Refused to terminate 0014-ironman-training: it holds work that exists nowhere else
• ai-dev: untracked: training-plan.md
Keep the builder, or force-terminate it (discards the work above)?
         [1] Keep  [2] Force terminate  [3] Patch
   (training-plan.md is still there: True)

you> [Force terminate]
╭──────────────────────────────────────── approval needed ─────────────────────────────────────────╮
│ Approval ID needed:                                                                          │
│ FORCE terminate builder 0014-ironman-training                                                    │
│ This discards:                                                                                   │
│ • ai-dev: untracked: training-plan.md                                                            │
│ Diffstat of what would be lost:                                                                  │
│ • ai-dev, uncommitted: 1 file, +2 −0 — training-plan.md +2 −0                                    │
│ The full patch: the Patch button, or foreman builder diff 0014-ironman-training --patch          │
│ Reply yes or no, or /approve ID · /reject ID                                             │
╰──────────────────────────────────────────────────────────────────────────────────────────────────╯

you> [Approve]
foreman> ✓ Builder 0014-ironman-training terminated; what it discarded is archived in \n\
<data>/foreman/workspaces/workspace-HASH/archives for 30 days

you> show me all sessions
foreman> Projects:
0013 integrated Slack Gateway
0014 implemented Ironman Training
0015 implementing New Feature [builders: 0015-new-feature]
0016 conceived Voice Notes
Builders:
• 0015-new-feature (clean)

you> /usage
foreman> This chat: 7 model requests, N input tokens, N output tokens.

Demo done in Ns, 7 scripted model requests.
Workspace: <tmp>/demo/workspace
State:     <data>/foreman/workspaces/workspace-HASH

Next steps:
  cd <tmp>/demo/workspace
  foreman chat --model offline   carry on talking (scripted model; no key needed)
  foreman approvals              the cards waiting in this workspace
  foreman audit                  every change the demo made, and who approved it
""")
    workspace = tmp_path / "demo" / "workspace"
    assert (workspace / ".builders" / "0015-new-feature" / "ai-dev").is_dir()
    assert not (workspace / ".builders" / "0014-ironman-training").exists()
    [state] = (data_home / "foreman" / "workspaces").iterdir()
    assert state.name.startswith("workspace-") and (state / "foreman.db").is_file()

    # the next steps it printed: in the workspace, chat and audit carry on with its state
    audit = _foreman("audit", "--last", "2", cwd=workspace, env=env)
    assert audit.returncode == 0, audit.stderr
    lines = audit.stdout.replace(getpass.getuser(), "ME").replace(str(data_home), "<data>")
    lines = re.sub(r"workspace-[0-9a-f]{8}\b", "workspace-HASH", lines).splitlines()
    lines = [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "WHEN", line) for line in lines]
    assert [re.sub(r"\[[2-9b-z]{6}\]", "[ID]", line) for line in lines] == snapshot(
        [
            "WHEN  assistant  approval.requested [ID]  force_terminate_builder 0014-ironman-training",
            "WHEN  terminal:demo  approval.approved.done [ID]  force_terminate_builder 0014-ironman-training: Builder 0014-ironman-training terminated; what it discarded is archived in <data>/foreman/workspaces/workspace-HASH/archives for 30 days",
        ]
    )
    chat = _foreman(
        "chat", "--model", "offline", cwd=workspace, env=env, stdin="show me all sessions\n"
    )
    assert chat.returncode == 0, chat.stderr
    assert "model: offline, the scripted policy" in chat.stdout
    assert "0015-new-feature" in chat.stdout and "Traceback" not in chat.stderr


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
    assert re.search(r"Approve [2-9b-z]{6}\? \[y/n\]", first.stdout), first.stdout
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


def test_chat_asks_again_until_the_answer_is_one_and_leaves_the_card_at_end_of_input(
    workspace, tmp_path
):
    before = workspace.projectlist_path.read_bytes()
    result = _foreman(
        "chat",
        "--workspace",
        str(workspace.root),
        cwd=_repo_root(),
        stdin="/status 0015 implementing\n\nmaybe\n",
    )
    assert result.returncode == 0, result.stderr
    [card] = set(re.findall(r"Approve ([2-9b-z]{6})\?", result.stdout))
    tail = result.stdout[result.stdout.index(f"Approve {card}?") :].replace(card, "ID")
    assert tail.splitlines() == snapshot(
        [
            "Approve ID? [y/n] Answer y to approve ID or n to reject it (or /approve ID, /reject ID for another card).",
            "Approve ID? [y/n] Answer y to approve ID or n to reject it (or /approve ID, /reject ID for another card).",
            "Approve ID? [y/n] Input ended; left pending: ID. Decide later with foreman approvals approve ID (or reject ID).",
            "bye",
        ]
    )
    assert "Rejected" not in result.stdout
    assert workspace.projectlist_path.read_bytes() == before
    listed = _foreman("approvals", "--json", "--workspace", str(workspace.root), cwd=_repo_root())
    assert [(a["id"], a["state"]) for a in json.loads(listed.stdout)] == [(card, "pending")]


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
    here = ["--workspace", str(workspace.root)]
    listed = runner.invoke(cli, ["approvals", *here], env={"COLUMNS": "100"})
    assert listed.exit_code == 0, listed.output
    shown = listed.output.replace(approval.id, "ID").replace(me.key, "terminal:ME")
    # Column widths follow the user name: compare the cells.
    assert [" ".join(line.split()) for line in shown.splitlines()] == snapshot(
        [
            "id state for action",
            "ID pending terminal:ME Set 0016 Voice Notes: conceived → specified",
        ]
    )

    as_json = runner.invoke(cli, ["approvals", "list", "--json", *here])
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
    assert again.stdout == ""
    assert again.stderr.replace(approval.id, "ID") == snapshot(
        "Error: Approval ID is already done; nothing done.\n"
    )

    missing = runner.invoke(
        cli, ["approvals", "reject", "nope42", "--workspace", str(workspace.root)]
    )
    assert missing.exit_code == 1
    assert missing.stderr == snapshot(
        "Error: no approval nope42 (foreman approvals --all lists every workspace's)\n"
    )


def test_approvals_cli_cannot_approve_someone_elses_card(make_service, workspace):
    svc = make_service(None)
    [card] = asyncio.run(svc.handle(dm("/status 0015 implementing")))
    before = workspace.projectlist_path.read_bytes()
    result = CliRunner().invoke(
        cli, ["approvals", "approve", card.extra["approval_id"], "--workspace", str(workspace.root)]
    )
    assert result.exit_code == 1
    assert result.stderr.replace(card.extra["approval_id"], "ID") == snapshot(
        "Error: Approval ID can only be resolved by the person it was asked of.\n"
    )
    assert workspace.projectlist_path.read_bytes() == before


def test_demo_interactive_leaves_the_user_in_chat(tmp_path):
    result = _foreman(
        "demo", str(tmp_path / "d"), "--interactive", cwd=_repo_root(), stdin="/projects\n"
    )
    assert result.returncode == 0, result.stderr
    chat = result.stdout.split("You are now in `foreman chat`", 1)[1]
    assert "0015 · implementing · New Feature · 🔨 0015-new-feature" in chat
    assert chat.rstrip().endswith("bye")


def test_demo_interactive_with_the_offline_model_answers_free_text(tmp_path):
    result = _foreman(
        "demo",
        str(tmp_path / "d"),
        "-i",
        "--model",
        "offline",
        cwd=_repo_root(),
        stdin="what is 0016 about?\n",
    )
    assert result.returncode == 0, result.stderr
    chat = result.stdout.split("You are now in `foreman chat`", 1)[1]
    assert "model: offline, the scripted policy" in chat
    assert "Voice Notes" in chat and "not usable" not in chat


def test_doctor_reports_the_model_key_honestly_and_the_prompt_fits(workspace, monkeypatch):
    from assistant.agent import prompt_chars

    # the prompt's budget is held here, where a change to the prompt or the tools shows
    assert prompt_chars() <= 8000
    result = CliRunner().invoke(cli, ["doctor", "--json", "--workspace", str(workspace.root)])
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    # no key: a warning, not "ok", and not a failure either (slash commands work without)
    assert (checks["model"]["ok"], checks["model"]["warning"]) == (False, True)
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


def test_approvals_of_another_workspace_are_neither_listed_nor_decided_here(
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
    monkeypatch.chdir(other.root)
    runner = CliRunner()
    listed = runner.invoke(cli, ["approvals"])
    assert (listed.exit_code, listed.output) == (0, "No approvals waiting in this workspace.\n")
    everywhere = runner.invoke(cli, ["approvals", "--all"], env={"COLUMNS": "300"})
    rows = [" ".join(line.split()) for line in everywhere.output.splitlines()]
    shown = [r.replace(approval.id, "ID").replace(str(tmp_path), "<tmp>") for r in rows]
    assert [re.sub(r"terminal:\S+", "terminal:ME", r) for r in shown] == snapshot(
        [
            "id state workspace for action",
            "ID pending <tmp>/ws terminal:ME Set 0015 New Feature: planned → implementing",
        ]
    )

    for verb in ("approve", "reject"):
        wrong = runner.invoke(cli, ["approvals", verb, approval.id])
        assert wrong.exit_code == 1
        shown = wrong.stderr.replace(approval.id, "ID").replace(str(tmp_path), "<tmp>")
        assert shown.replace(verb, "VERB") == snapshot(
            "Error: approval ID belongs to the workspace <tmp>/ws; run `foreman approvals VERB ID` there (or pass --workspace <tmp>/ws)\n"
        )
    assert other.projectlist_path.read_bytes() == before

    monkeypatch.chdir(tmp_path)  # no workspace here: refused too, never the card's own
    nowhere = runner.invoke(cli, ["approvals", "approve", approval.id])
    assert nowhere.exit_code == 1 and "belongs to the workspace" in nowhere.stderr

    monkeypatch.chdir(workspace.root)
    done = runner.invoke(cli, ["approvals", "approve", approval.id])
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

"""Failures a new user meets are one line saying what is wrong and what to do, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from tests.opencode_server import free_port
from tests.workspaces import ai_workspace

REPO = Path(__file__).resolve().parents[2]
PROJECTLIST = '```yaml\nprojects:\n  - id: "0001"\n    title: "A"\n    status: planned\n```\n'


def test_a_state_directory_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    (tmp_path / "a-file").write_text("not a folder")
    result = CliRunner().invoke(
        cli,
        ["approvals", "--workspace", str(workspace)],
        env={"FOREMAN_STATE_DIR": str(tmp_path / "a-file" / "state")},
    )
    assert result.exit_code == 1
    assert result.stderr.replace(str(tmp_path), "<tmp>") == snapshot(
        "Error: cannot create the state directory <tmp>/a-file/state (Not a directory); set FOREMAN_STATE_DIR to a folder you can write\n"
    )


def test_a_corrupt_state_file_is_named_and_kept(tmp_path: Path) -> None:
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    state = tmp_path / "state"
    state.mkdir()
    garbage = b"this was a database once\x00" * 200
    (state / "foreman.db").write_bytes(garbage)
    for command in (["approvals"], ["audit"], ["chat"]):
        result = CliRunner().invoke(cli, [*command, "--workspace", str(workspace)], input="")
        assert result.exit_code == 1, command
        assert result.stderr.replace(str(tmp_path), "<tmp>") == snapshot(
            "Error: the state file <tmp>/state/foreman.db cannot be read (file is not a database); it was left as it is: move it aside to start with an empty state, or set FOREMAN_STATE_DIR\n"
        )
    assert (state / "foreman.db").read_bytes() == garbage
    assert sorted(p.name for p in state.iterdir()) == ["foreman.db"]
    # doctor reads it without touching it, and says the same
    doctor = CliRunner().invoke(cli, ["doctor", "--workspace", str(workspace)])
    [line] = [line for line in doctor.output.splitlines() if " state " in line]
    assert line.replace(str(tmp_path), "<tmp>") == snapshot(
        "FAIL  state         <tmp>/state/foreman.db cannot be read (file is not a database); it is left as it is: move it aside to start with an empty state"
    )
    assert (state / "foreman.db").read_bytes() == garbage


def test_relay_run_with_opencode_unreachable_says_so_and_exits_1(tmp_path: Path) -> None:
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "assistant", "relay", "run", "--workspace", str(workspace)],
        cwd=REPO,
        env={**os.environ, "FOREMAN_OPENCODE_URL": url},
        input="group-1: hello\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.replace(url, "URL") == snapshot(
        "Error: cannot reach OpenCode at URL: start `opencode serve` there, or point FOREMAN_OPENCODE_URL at a running one\n"
    )

"""`foreman projects / project / status set / check / doctor`, run as a user would."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.approvals import ApprovalBook
from assistant.cli import cli
from assistant.store import open_store

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_projects_table(workspace: Path) -> None:
    code, out, err = run("projects")
    assert code == 0
    assert out == snapshot("""\
                                                                                                    \n\
 id     title              status         repos            builder   binding                        \n\
 ────────────────────────────────────────────────────────────────────────────────────────────────── \n\
 0014   Telegram relay     implementing   foreman, infra             telegram Foreman 0014          \n\
                                                                     (mention: @foreman)            \n\
 0015   Evals              conceived      foreman                                                   \n\
 0016   WhatsApp channel   planned        foreman                    whatsapp 120363@g.us           \n\
                                                                                                    \n\
3 projects in .ai/projectlist.md (ai format)
""")
    assert err == ""


def test_projects_json_and_status_filter(workspace: Path) -> None:
    code, out, _ = run("projects", "--json", "--status", "planned", "--status", "conceived")
    assert code == 0
    assert json.loads(out) == snapshot(
        [
            {
                "id": "0015",
                "title": "Evals",
                "status": "conceived",
                "repos": ["foreman"],
                "builders": [],
                "binding": None,
            },
            {
                "id": "0016",
                "title": "WhatsApp channel",
                "status": "planned",
                "repos": ["foreman"],
                "builders": [],
                "binding": {
                    "platform": "whatsapp",
                    "group_name": None,
                    "channel_id": "120363@g.us",
                    "thread_id": None,
                    "trigger": "all_messages",
                    "patterns": [],
                    "extra": {},
                },
            },
        ]
    )


def test_builder_column_shows_builders_on_disk(workspace: Path) -> None:
    (workspace / ".builders" / "0014-telegram-relay").mkdir(parents=True)
    code, out, _ = run("projects", "--json")
    assert code == 0
    assert {row["id"]: row["builders"] for row in json.loads(out)} == {
        "0014": ["0014-telegram-relay"],
        "0015": [],
        "0016": [],
    }


def test_project_shows_every_field(workspace: Path) -> None:
    code, out, _ = run("project", "14")
    assert code == 0
    assert out == snapshot("""\
0014  Telegram relay
  status   implementing
  file     .ai/projectlist.md:5
  repos    foreman, infra
  builder  -
  binding  telegram Foreman 0014 (mention: @foreman)

  - id: "0014"
    title: "Telegram relay"
    status: implementing
    repos: [foreman, infra]
    chat_binding:
      platform: telegram
      group_name: "Foreman 0014"
      trigger: mention
      mention_patterns: ["@foreman"]
    tags: [relay]
    owner: alice
    timestamps:
      implementing_at: "2026-01-05T09:00:00+01:00"
      implemented_at: null
      integrated_at: null
""")
    code, out, _ = run("project", "0016", "--json")
    data = json.loads(out)
    assert data.pop("file") == str(workspace / ".ai" / "projectlist.md")
    assert data == snapshot(
        {
            "id": "0016",
            "title": "WhatsApp channel",
            "status": "planned",
            "repos": ["foreman"],
            "files": {},
            "chat_binding": {
                "platform": "whatsapp",
                "group_name": None,
                "channel_id": "120363@g.us",
                "thread_id": None,
                "trigger": "all_messages",
                "patterns": [],
                "extra": {},
            },
            "tags": [],
            "notes": None,
            "extra": {},
            "line": 24,
            "in_fence": True,
            "builders": [],
            "source": """\
  - id: "0016"
    title: "WhatsApp channel"
    status: planned
    repos: [foreman]
    chat_binding:
      platform: whatsapp
      channel_id: "120363@g.us"
""",
        }
    )


def test_unknown_project_exits_1(workspace: Path) -> None:
    code, _, err = run("project", "0099")
    assert (code, err) == snapshot(
        (1, "Error: no project '0099' in this file (ids: 0014, 0015, 0016)\n")
    )


def test_status_set_without_terminal_or_yes_is_refused(workspace: Path) -> None:
    before = (workspace / ".ai" / "projectlist.md").read_bytes()
    code, out, err = run("status", "set", "0014", "implemented", "--timestamp", "2026-02-01")
    assert code == 1
    assert out == snapshot(
        '.ai/projectlist.md: 0014: status implementing → implemented (line 7); implemented_at → "2026-02-01" (line 18)\n'
    )
    assert err == snapshot(
        "Error: not changed: confirm on a terminal, or pass --yes to approve from a script\n"
    )
    assert (workspace / ".ai" / "projectlist.md").read_bytes() == before


def test_status_set_yes_writes_prints_and_audits(workspace: Path) -> None:
    code, out, err = run(
        "status", "set", "0014", "integrated", "--yes", "--timestamp", "2026-02-09",
        "--reason", "shipped",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == snapshot("""\
.ai/projectlist.md: 0014: status implementing → integrated (line 7); integrated_at → "2026-02-09" (line 19)
  warning: skips implemented, committed
  warning: integrated is a human-only gate: only the human may approve it
wrote:
  7: - status: implementing
  7: + status: integrated
  19: - integrated_at: null
  19: + integrated_at: "2026-02-09"
""")
    text = (workspace / ".ai" / "projectlist.md").read_text()
    assert "    status: integrated\n" in text
    assert '      integrated_at: "2026-02-09"\n' in text
    store = open_store(Path(os.environ["FOREMAN_STATE_DIR"]))
    [entry] = ApprovalBook(store).audit_log()
    store.close()
    action, details = entry.action, entry.details
    assert (action, details["project_id"], details["from"], details["to"]) == (
        "project.status_set",
        "0014",
        "implementing",
        "integrated",
    )
    assert details["reason"] == "shipped"


def test_status_set_no_timestamp_and_usage_errors(workspace: Path) -> None:
    code, out, _ = run("status", "set", "0014", "implemented", "--yes", "--no-timestamp")
    assert code == 0
    assert "implemented_at: null" in (workspace / ".ai" / "projectlist.md").read_text()
    code, _, err = run("status", "set", "0014", "committed", "--timestamp", "x", "--no-timestamp")
    assert code == 2 and "cannot be used together" in err
    code, _, err = run("status", "set", "0014", "done", "--yes")
    assert code == 2 and "'done' is not one of" in err
    code, out, err = run("status", "set", "0015", "conceived", "--yes")
    assert (code, out, err) == (1, "", "Error: 0015 is already conceived; nothing to change\n")


def _on_a_terminal(workspace: Path, answer: bytes) -> str:
    """Run `foreman status set` with a real pseudo-terminal as stdin and type `answer`."""
    primary, secondary = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "status", "set", "0015", "specified"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=workspace,
        env=env,
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not answered and b"[y/N]" in output:
            os.write(primary, answer)
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(primary)
    return output.decode().replace("\r\n", "\n")


@pytest.mark.parametrize(("answer", "written"), [(b"y\n", True), (b"n\n", False)])
def test_status_set_asks_on_a_terminal(workspace: Path, answer: bytes, written: bool) -> None:
    output = _on_a_terminal(workspace, answer)
    assert "0015: status conceived → specified (line 22)" in output
    assert "warning: specified is a human-only gate" in output
    assert "Apply this change? [y/N]" in output
    status = "specified" if written else "conceived"
    assert (
        f'id: "0015"\n    title: "Evals"\n    status: {status}\n'
        in (workspace / ".ai" / "projectlist.md").read_text()
    )
    assert ("wrote:" in output) is written
    assert ("cancelled; nothing was written" in output) is not written


def test_check_clean_and_broken(workspace: Path) -> None:
    code, out, _ = run("check")
    assert (code, out) == (0, ".ai/projectlist.md: 3 projects, 0 error(s), 0 warning(s)\n")
    path = workspace / ".ai" / "projectlist.md"
    path.write_text(
        path.read_text()
        + '\n  - id: "0017"\n    title: x\n    status: done\n```\n\n```yaml\n- id: "0018\n```\n'
    )
    code, out, _ = run("check")
    assert code == 1
    assert out == snapshot("""\
.ai/projectlist.md:33: warning: project 0017: unknown status 'done' (expected one of conceived, specified, planned, implementing, implemented, committed, integrated, abandoned, on-hold)
.ai/projectlist.md:33: warning: project entries written outside a ```yaml fence: 0017 (read anyway; codev's own tools may miss them)
.ai/projectlist.md:36: warning: stray closing fence: no fence is open here (the entries above it are outside any ```yaml fence)
.ai/projectlist.md:40: error: invalid YAML: found unexpected end of stream (while scanning a quoted scalar started at line 39)
.ai/projectlist.md: 4 projects, 1 error(s), 3 warning(s)
""")
    code, out, _ = run("check", "--json")
    assert code == 1
    data = json.loads(out)
    assert data.pop("file") == str(path)
    assert data == snapshot(
        {
            "format": "ai",
            "ok": False,
            "projects": 4,
            "templates_skipped": 0,
            "errors": [
                {
                    "line": 40,
                    "message": "invalid YAML: found unexpected end of stream (while scanning a quoted scalar started at line 39)",
                }
            ],
            "warnings": [
                {
                    "line": 33,
                    "message": "project 0017: unknown status 'done' (expected one of conceived, specified, planned, implementing, implemented, committed, integrated, abandoned, on-hold)",
                },
                {
                    "line": 33,
                    "message": "project entries written outside a ```yaml fence: 0017 (read anyway; codev's own tools may miss them)",
                },
                {
                    "line": 36,
                    "message": "stray closing fence: no fence is open here (the entries above it are outside any ```yaml fence)",
                },
            ],
        }
    )


@pytest.fixture
def own_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only this part's doctor checks, so other parts' checks cannot change the exit code."""
    from assistant import doctor
    from assistant.cli.doctor import load_every_tier

    load_every_tier()  # registered now, into the full registry, not into `mine` below
    mine = {name: doctor.CHECKS[name] for name in ("python", "workspace")}
    monkeypatch.setattr(doctor, "CHECKS", mine)


def test_every_registered_doctor_check_loads_and_runs(workspace: Path) -> None:
    _, out, _ = run("doctor", "--json")
    names = [c["name"] for c in json.loads(out)["checks"]]
    assert "check failed" not in out
    # every tier's checks, bottom up (no chat channel is configured here)
    assert names == snapshot(
        ["python", "workspace", "project list", "state", "task", "opencode", "model"]
    )


@pytest.mark.usefixtures("own_checks")
def test_doctor_reports_workspace_file_format_counts(workspace: Path) -> None:
    code, out, _ = run("doctor", "--json")
    assert code == 0
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["workspace"]["data"] == {"root": str(workspace), "origin": "current directory"}
    data = checks["project list"]["data"]
    assert data.pop("file") == str(workspace / ".ai" / "projectlist.md")
    assert data == snapshot(
        {
            "format": "ai",
            "projects": 3,
            "by_status": {"conceived": 1, "planned": 1, "implementing": 1},
            "errors": 0,
            "warnings": 0,
            "templates_skipped": 0,
        }
    )
    code, out, _ = run("doctor")
    lines = [line for line in out.splitlines() if line.split()[1] in ("workspace", "project")]
    assert lines == [
        f"ok    workspace     {workspace} (from current directory)",
        f"ok    project list  {workspace}/.ai/projectlist.md (ai format): 3 projects "
        "(1 conceived, 1 planned, 1 implementing); 0 error(s), 0 warning(s)",
    ]


@pytest.mark.usefixtures("own_checks")
def test_doctor_and_commands_without_a_workspace_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("doctor")
    assert code == 1 and "FAIL  workspace" in out
    code, _, err = run("projects", "--workspace", str(tmp_path))
    assert code == 1
    assert err.replace(str(tmp_path), "<tmp>") == snapshot(
        "Error: --workspace <tmp>: holds neither .ai/projectlist.md nor codev/projectlist.md\n"
    )


@pytest.mark.usefixtures("own_checks")
def test_doctor_is_extensible(workspace: Path) -> None:
    from assistant import doctor

    @doctor.doctor_check("model key", doctor.Tier.ASSISTANT)
    def failing_model_key_check(context: doctor.DoctorContext) -> doctor.Check:
        return doctor.Check("model key", False, "ANTHROPIC_API_KEY is not set")

    @doctor.doctor_check("broken", doctor.Tier.BUILDERS)
    def broken_check(context: doctor.DoctorContext) -> doctor.Check:
        raise RuntimeError("no such thing")

    code, out, _ = run("doctor")
    assert code == 1
    # shown by tier, whatever the order they were registered in
    assert [line.split()[:2] for line in out.splitlines()][-2:] == [
        ["FAIL", "broken"],
        ["FAIL", "model"],
    ]
    assert "check failed: RuntimeError: no such thing" in out
    assert "ANTHROPIC_API_KEY is not set" in out


FORBIDDEN = ("pydantic_ai", "telegram", "neonize", "fastmcp", "fasta2a", "anthropic", "openai")


def test_deterministic_commands_do_not_import_heavy_libraries(workspace: Path) -> None:
    code = (
        "import sys\n"
        "from assistant.cli import cli\n"
        "for args in (['projects', '--json'], ['project', '14'], ['check'], ['doctor']):\n"
        "    try:\n"
        "        cli(args, standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print('HEAVY', heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=workspace, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "HEAVY []"

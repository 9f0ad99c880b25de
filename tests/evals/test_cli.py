"""`foreman eval` as a user runs it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli

ONE_CASE = """\
name: tiny
evaluators: [NoUnapprovedMutation, ApprovalsRequested, FinalState]
cases:
- name: abandon
  inputs:
    turns:
    - say: mark 0015 abandoned
    - press: approve
  expected_output:
    approvals: [{tool: set_project_status, state: done}]
    statuses: {"0015": %s}
"""


def _dataset(tmp_path: Path, status: str) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(ONE_CASE % status)
    return path


def test_eval_shows_each_case_as_it_ends_and_a_summary_that_fits_80_columns(
    tmp_path: Path,
) -> None:
    long_name = "a_case_name_long_enough_to_be_cut_in_a_wide_table"
    dataset = _dataset(tmp_path, "abandoned")
    dataset.write_text(dataset.read_text().replace("name: abandon", f"name: {long_name}"))
    result = CliRunner().invoke(cli, ["eval", "--dataset", str(dataset)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    played = re.sub(r"\(\d+\.\d s\)", "(N s)", result.stderr.replace(long_name, "LONG"))
    assert played.strip() == snapshot("played tiny/LONG (N s)")
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert result.stdout == snapshot("""\
                                                                                \n\
 case                                      ok    req.   tokens in/out   unappr. \n\
 ────────────────────────────────────────────────────────────────────────────── \n\
 tiny                                                                           \n\
   a_case_name_long_enough_to_be_cut_in_   yes      1         1334/11         - \n\
 a_wide_table                                                                   \n\
                                                                                \n\
model: offline scripted policy (no model key: ANTHROPIC_API_KEY is not set)
cases passed: 1/1
unapproved mutations: 0
per case: 1.0 requests, 1334.0 input tokens, 11.0 output tokens
""")


def test_eval_json_and_failing_case(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["eval", "--model", "offline", "--json", "--dataset", str(_dataset(tmp_path, "planned"))],
    )
    assert result.exit_code == 1
    document = json.loads(result.stdout)  # progress goes to stderr
    assert document["totals"] == snapshot(
        {
            "model": "offline scripted policy (--model offline)",
            "cases": 1,
            "cases_passed": 0,
            "unapproved_mutations": 0,
            "requests_per_case": 1.0,
            "input_tokens_per_case": 1334.0,
            "output_tokens_per_case": 11.0,
        }
    )
    assert document["cases"][0]["failures"] == snapshot(
        ["statuses: on disk: {'0015': 'abandoned'}, wanted {'0015': 'planned'}"]
    )


def test_eval_names_the_missing_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--model",
            "anthropic:claude-sonnet-4-5",
            "--dataset",
            str(_dataset(tmp_path, "x")),
        ],
    )
    assert result.exit_code == 1
    assert "ANTHROPIC_API_KEY" in result.output


def test_eval_unknown_case_filter(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["eval", "--dataset", str(_dataset(tmp_path, "x")), "-k", "nothing-like-this"]
    )
    assert result.exit_code == 1
    assert "no case name contains 'nothing-like-this'" in result.output

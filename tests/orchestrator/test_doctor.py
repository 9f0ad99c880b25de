"""`foreman doctor` reports the `task` binary and whether the OpenCode server answers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.opencode_server import OpenCodeProcess
from tools.workspace import Workspace


def builder_checks(workspace: Workspace) -> dict[str, dict]:
    result = CliRunner().invoke(cli, ["doctor", "--json", "--workspace", str(workspace.root)])
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    return {name: checks[name] for name in ("task", "opencode")}


def test_task_found_and_no_server_configured(workspace: Workspace):
    checks = builder_checks(workspace)

    assert checks["task"]["ok"] and checks["task"]["detail"].startswith("3.54.0")
    assert checks["opencode"] == {
        "name": "opencode",
        "ok": True,
        "detail": "not configured (FOREMAN_OPENCODE_URL): builders made outside `foreman serve` get no session",
        "data": {"url": None},
    }


def test_missing_task_and_unreachable_server_fail(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path
):
    monkeypatch.setenv("FOREMAN_TASK_BIN", str(tmp_path / "no-task-here"))
    monkeypatch.setenv("FOREMAN_OPENCODE_URL", "http://127.0.0.1:9")

    checks = builder_checks(workspace)

    assert (
        not checks["task"]["ok"] and "only the native builder back-end" in checks["task"]["detail"]
    )
    assert not checks["opencode"]["ok"]
    assert "http://127.0.0.1:9 unreachable" in checks["opencode"]["detail"]


def test_reachable_server_reports_its_version(
    workspace: Workspace, opencode_server: OpenCodeProcess, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FOREMAN_OPENCODE_URL", opencode_server.url)
    monkeypatch.setenv("FOREMAN_OPENCODE_PASSWORD", opencode_server.password or "")

    checks = builder_checks(workspace)

    assert checks["opencode"]["ok"]
    assert checks["opencode"]["data"]["version"] == "1.18.33"
    assert "healthy, version 1.18.33" in checks["opencode"]["detail"]

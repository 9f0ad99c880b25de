"""The Taskfile back-end: the workspace's own `task builder:init` / `task builder:cleanup`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML, YAMLError

from tools.orchestrator._errors import OrchestratorError

TASKFILE_NAMES = ("Taskfile.yml", "Taskfile.yaml", "taskfile.yml", "taskfile.yaml")
REQUIRED_TASKS = ("builder:init", "builder:cleanup")


def find_taskfile(workspace_root: Path) -> Path | None:
    """The workspace's Taskfile when it defines both builder tasks, else None."""
    for name in TASKFILE_NAMES:
        path = workspace_root / name
        if path.is_file():
            try:
                data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
            except (YAMLError, UnicodeDecodeError):
                return None
            tasks = data.get("tasks") if isinstance(data, dict) else None
            if isinstance(tasks, dict) and all(t in tasks for t in REQUIRED_TASKS):
                return path
            return None
    return None


def task_binary() -> str | None:
    """$FOREMAN_TASK_BIN, else the `task` installed beside this Python (go-task-bin), else PATH."""
    configured = os.environ.get("FOREMAN_TASK_BIN")
    if configured:
        # a configured binary that is not there counts as no binary: auto falls back to native
        return shutil.which(configured)
    beside = Path(sys.executable).parent / "task"
    if beside.is_file():
        return str(beside)
    return shutil.which("task")


def run_task(workspace_root: Path, task: str, variables: dict[str, str]) -> str:
    """Run one task in the workspace; its combined output, or OrchestratorError naming the task."""
    binary = task_binary()
    if binary is None:
        raise OrchestratorError(
            "the `task` binary was not found (install go-task-bin or set FOREMAN_TASK_BIN)"
        )
    args = [binary, "--dir", str(workspace_root), task, *(f"{k}={v}" for k, v in variables.items())]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OrchestratorError(f"`task {task}` could not run: {e}", path=workspace_root) from None
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        last = output.splitlines()[-1] if output else f"exit status {done.returncode}"
        raise OrchestratorError(
            f"`task {task}` failed in {workspace_root}: {last}", path=workspace_root, output=output
        )
    return output

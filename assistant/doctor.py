"""`foreman doctor`'s checks: a registry each tier adds its own checks to.

A check is a function taking a DoctorContext and returning one Check or several. Register
one by adding a line to CHECKS ("name": "module:function"); it is imported only when doctor
runs, so a check may use heavy libraries without slowing other commands down.
"""

from __future__ import annotations

import importlib
import platform
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable facts for --json


@dataclass(frozen=True)
class DoctorContext:
    """What the user pointed doctor at (`--workspace`, `--file`); None means search."""

    workspace_dir: Path | None = None
    file: Path | None = None


CheckFunction = Callable[[DoctorContext], Check | Iterable[Check]]

# check name -> "module:function"; one line per check, grouped by tier.
CHECKS: dict[str, str] = {
    "python": "assistant.doctor:check_python",
    # project list (tools/projectlist)
    "workspace": "assistant.doctor:check_workspace",
    # orchestrator (tools/orchestrator): the `task` binary, the OpenCode server
    "builders": "assistant.cli.builders:check_builders",
    # assistant (assistant/agent): model and key, prompt size
    "assistant": "assistant.agent_doctor:check_assistant",
    # gateway and channels (assistant/gateway)
    "channels": "assistant.gateway._doctor:doctor_checks",
}


def run_checks(context: DoctorContext) -> list[Check]:
    """Every check's results, in order; a check that crashes is reported as failed."""
    functions: list[tuple[str, CheckFunction | None, str]] = []
    for name, target in CHECKS.items():
        module_name, attribute = target.split(":")
        try:
            functions.append((name, getattr(importlib.import_module(module_name), attribute), ""))
        except (ImportError, AttributeError) as exc:
            functions.append((name, None, f"cannot load {target}: {exc}"))
    results: list[Check] = []
    for name, function, problem in functions:
        if function is None:
            results.append(Check(name, False, problem))
            continue
        try:
            outcome = function(context)
        except Exception as exc:
            results.append(Check(name, False, f"check failed: {type(exc).__name__}: {exc}"))
            continue
        results += [outcome] if isinstance(outcome, Check) else list(outcome)
    return results


def check_python(context: DoctorContext) -> Check:
    version = platform.python_version()
    return Check(
        "python",
        sys.version_info >= (3, 11),
        f"Python {version} at {sys.executable}",
        {"version": version, "executable": sys.executable},
    )


def check_workspace(context: DoctorContext) -> list[Check]:
    """Which workspace and project list Foreman found, its format and what it holds."""
    from tools.projectlist import ProjectListError, load
    from tools.workspace import WorkspaceNotFound, find_workspace

    try:
        workspace = find_workspace(context.workspace_dir, context.file)
    except WorkspaceNotFound as exc:
        searched = context.workspace_dir is None and context.file is None
        hint = "; or `foreman init` starts one here" if searched else ""
        return [Check("workspace", False, f"{exc}{hint}")]
    checks = [
        Check(
            "workspace",
            True,
            f"{workspace.root} (from {workspace.origin})",
            {"root": str(workspace.root), "origin": workspace.origin},
        )
    ]
    path = workspace.projectlist_path
    try:
        plist = load(path, strict=False)
    except ProjectListError as exc:
        return [*checks, Check("project list", False, str(exc), {"file": str(path)})]
    counts = plist.counts()
    summary = ", ".join(f"{n} {status or '(none)'}" for status, n in counts.items())
    detail = (
        f"{path} ({plist.format} format): {len(plist.projects)} projects"
        + (f" ({summary})" if summary else "")
        + f"; {len(plist.errors)} error(s), {len(plist.warnings)} warning(s)"
    )
    if plist.errors:
        detail += f"; first error at line {plist.errors[0].line}: run `foreman check`"
    checks.append(
        Check(
            "project list",
            not plist.errors,
            detail,
            {
                "file": str(path),
                "format": plist.format,
                "projects": len(plist.projects),
                "by_status": counts,
                "errors": len(plist.errors),
                "warnings": len(plist.warnings),
                "templates_skipped": plist.templates,
            },
        )
    )
    return checks

"""`foreman doctor`'s checks: a registry each tier adds its own checks to.

A check is a function taking a DoctorContext and returning one Check or several. A tier
registers its checks with `@doctor_check(name, tier)` in its own module; the `foreman doctor`
command imports those modules (never the other way round), so the import graph shows who
checks what. Checks run from the bottom tier up.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable facts for --json
    # not ok, but Foreman works without it (e.g. no model key: slash commands still do)
    warning: bool = False


@dataclass(frozen=True)
class DoctorContext:
    """What the user pointed doctor at (`--workspace`, `--file`); None means search."""

    workspace_dir: Path | None = None
    file: Path | None = None
    model: str | None = None  # --model / $FOREMAN_MODEL / foreman.toml's, None: the default
    state_dir: Path | None = None  # $FOREMAN_STATE_DIR / foreman.toml's, None: the workspace's


CheckFunction = Callable[[DoctorContext], Check | Iterable[Check]]


class Tier(IntEnum):
    """Where a check sits in the house; doctor shows checks from the bottom tier up."""

    SYSTEM = 0
    PROJECT_LIST = 1
    BUILDERS = 2
    ASSISTANT = 3
    CHANNELS = 4


# check name -> function; see doctor_check.
CHECKS: dict[str, CheckFunction] = {}
_TIERS: dict[str, Tier] = {}


def doctor_check(name: str, tier: Tier) -> Callable[[CheckFunction], CheckFunction]:
    """Register the decorated function as doctor's check `name`, shown with its tier."""

    def register(function: CheckFunction) -> CheckFunction:
        CHECKS[name] = function
        _TIERS[name] = tier
        return function

    return register


def run_checks(context: DoctorContext) -> list[Check]:
    """Every check's results, in order; a check that crashes is reported as failed."""
    results: list[Check] = []
    ordered = sorted(CHECKS.items(), key=lambda item: _TIERS.get(item[0], len(Tier)))
    for name, function in ordered:
        try:
            outcome = function(context)
        except Exception as exc:
            results.append(Check(name, False, f"check failed: {type(exc).__name__}: {exc}"))
            continue
        results += [outcome] if isinstance(outcome, Check) else list(outcome)
    return results


@doctor_check("python", Tier.SYSTEM)
def check_python(context: DoctorContext) -> Check:
    version = platform.python_version()
    return Check(
        "python",
        sys.version_info >= (3, 11),
        f"Python {version} at {sys.executable}",
        {"version": version, "executable": sys.executable},
    )


@doctor_check("workspace", Tier.PROJECT_LIST)
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
        f"{path} ({plist.format} format): {len(plist.projects)} "
        + ("project" if len(plist.projects) == 1 else "projects")
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


@doctor_check("state", Tier.PROJECT_LIST)
def check_state(context: DoctorContext) -> Check:
    """Where this workspace's state is, and whether it can be read; never creates it."""
    import sqlite3

    from assistant.store import DB_NAME, default_state_dir
    from tools.workspace import WorkspaceNotFound, find_workspace

    try:
        root: Path | None = find_workspace(context.workspace_dir, context.file).root
    except WorkspaceNotFound:
        root = None
    directory = context.state_dir or default_state_dir(root)
    db = directory / DB_NAME
    data = {"state_dir": str(directory), "exists": db.is_file()}
    if not db.is_file():
        return Check("state", True, f"{directory} (created on first use)", data)
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        detail = (
            f"{db} cannot be read ({exc}); it is left as it is: move it aside to start "
            "with an empty state"
        )
        return Check("state", False, detail, data)
    return Check("state", True, str(directory), data)

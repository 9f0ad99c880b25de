"""The one scan of `<workspace>/.builders/`: which folders are builders, of which project, and
which were left half-made by an interrupted create.

Everything that lists builders (the CLI, the agent's tools, MCP/A2A reads, the relay's bindings)
goes through `builder_directories` / `builders_by_project`, so they agree on one rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._names import BUILDERS_DIR, check_safe


def builder_directories(workspace_root: Path) -> list[str]:
    """Names of the folders under `.builders/` with safe names, sorted: every builder, whole or
    partial (a partial one is still the user's to see and remove)."""
    builders = Path(workspace_root) / BUILDERS_DIR
    if not builders.is_dir():
        return []
    names = []
    for entry in sorted(builders.iterdir()):
        try:
            check_safe(entry.name, "builder name")
        except OrchestratorError:
            continue  # markers (.name.creating) and anything unsafe
        if entry.is_dir() and not entry.is_symlink():
            names.append(entry.name)
    return names


def match_project(name: str, project_ids: Iterable[str]) -> str | None:
    """The longest project id that `name` starts with, followed by '-' (or equal to it)."""
    best = None
    for project_id in project_ids:
        if (name == project_id or name.startswith(f"{project_id}-")) and (
            best is None or len(project_id) > len(best)
        ):
            best = project_id
    return best


def builders_by_project(workspace_root: Path, project_ids: Iterable[str]) -> dict[str, list[str]]:
    """Builder names per project id from directory names alone: cheap, for project listings."""
    ids = [str(i) for i in project_ids]
    result: dict[str, list[str]] = {}
    for name in builder_directories(workspace_root):
        project_id = match_project(name, ids)
        if project_id is not None:
            result.setdefault(project_id, []).append(name)
    return result


# -- the creation marker --------------------------------------------------------------------------
# A create writes `.builders/.<name>.creating` right after claiming the folder and removes it when
# every worktree is made (or rolled back). One left behind means the create was killed midway.


@dataclass(frozen=True)
class CreationMarker:
    """What an unfinished create had planned: enough to undo it safely later."""

    branch: str
    pid: int
    heads: Mapping[str, str]  # worktree key -> the commit its new branch started from
    sources: Mapping[str, str]  # worktree key -> the repository it is a worktree of

    @property
    def running(self) -> bool:
        """Whether the process that wrote the marker is still alive (a create under way)."""
        if self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def marker_path(builder: Path) -> Path:
    return builder.parent / f".{builder.name}.creating"


def write_marker(builder: Path, marker: CreationMarker) -> None:
    data = {
        "branch": marker.branch,
        "pid": marker.pid,
        "heads": dict(marker.heads),
        "sources": dict(marker.sources),
    }
    marker_path(builder).write_text(json.dumps(data), encoding="utf-8")


def read_marker(builder: Path) -> CreationMarker | None:
    path = marker_path(builder)
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        return CreationMarker(
            str(data["branch"]), int(data["pid"]), dict(data["heads"]), dict(data["sources"])
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        # unreadable: still a sign of an interrupted create, with nothing safe to undo
        return CreationMarker("", 0, {}, {})


def remove_marker(builder: Path) -> None:
    marker_path(builder).unlink(missing_ok=True)

"""The read side offered to outside callers: the project list and builders, as compact JSON."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.projectlist import ProjectList
    from tools.workspace import Workspace


class NotFound(LookupError):
    """A project or builder the caller named does not exist; the message says which."""


def plain(value: Any) -> Any:
    """A JSON-ready copy of a result object (pydantic model, dataclass, or `to_dict()`)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _projects(workspace: Workspace) -> ProjectList:
    from tools.projectlist import load

    return load(workspace.projectlist_path)


def _builder_names(workspace: Workspace) -> dict[str, list[str]]:
    builders = workspace.root / ".builders"
    names: dict[str, list[str]] = {}
    if builders.is_dir():
        for entry in sorted(builders.iterdir()):
            project_id, sep, _ = entry.name.partition("-")
            if entry.is_dir() and sep and project_id.isdigit():
                names.setdefault(project_id, []).append(entry.name)
    return names


def list_projects(workspace: Workspace, status: str | None = None) -> list[dict[str, Any]]:
    plist = _projects(workspace)
    builders = _builder_names(workspace)
    rows = []
    for project in plist.projects:
        if status is not None and project.status != status:
            continue
        row: dict[str, Any] = {"id": project.id, "title": project.title, "status": project.status}
        if project.repos:
            row["repos"] = list(project.repos)
        if builders.get(project.id):
            row["builders"] = builders[project.id]
        rows.append(row)
    return rows


def get_project(workspace: Workspace, project_id: str) -> dict[str, Any]:
    project = _projects(workspace).get(project_id)
    if project is None:
        raise NotFound(f"no project {project_id!r} in {workspace.projectlist_path}")
    data = plain(project)
    data.pop("line", None)
    data.pop("in_fence", None)
    data["builders"] = _builder_names(workspace).get(project.id, [])
    return {k: v for k, v in data.items() if v not in (None, [], {}, ())}


async def list_builders(workspace: Workspace) -> list[dict[str, Any]]:
    from tools.orchestrator import Orchestrator

    return plain(await Orchestrator(workspace).list_builders())


async def builder_status(workspace: Workspace, name: str) -> dict[str, Any]:
    from tools.orchestrator import Orchestrator, OrchestratorError

    try:
        return plain(await Orchestrator(workspace).builder_status(name))
    except OrchestratorError as error:
        raise NotFound(str(error)) from error


async def reconcile(workspace: Workspace) -> dict[str, Any]:
    from tools.orchestrator import Orchestrator

    return plain(await Orchestrator(workspace).reconcile())

"""The read side offered to outside callers: the project list and builders, as compact JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.projectlist import Project, ProjectList
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


def _builder_names(workspace: Workspace, project_ids: Sequence[str]) -> dict[str, list[str]]:
    from tools.orchestrator import builders_by_project

    return builders_by_project(workspace.root, project_ids)


def project_id(workspace: Workspace, given: str) -> str:
    """The id as the project list spells it: "14" finds 0014, as `foreman project 14` does."""
    return _find(_projects(workspace), given).id


def _find(plist: ProjectList, given: str) -> Project:
    from tools.projectlist import ProjectNotFound

    try:
        return plist.find(given)
    except ProjectNotFound as error:
        raise NotFound(str(error)) from None


DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def list_projects(
    workspace: Workspace,
    status: str | None = None,
    query: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """A page of projects: `projects`, how many matched, and how to narrow past the page.

    Bounded because the caller is a model too: a 1,000-project list would cost it ~60k tokens.
    """
    plist = _projects(workspace)
    needle = (query or "").lower()
    chosen = [
        p
        for p in plist.with_status([status] if status else [])
        if not needle or needle in p.id.lower() or needle in p.title.lower()
    ]
    limit = max(1, min(limit, MAX_LIMIT))
    page = chosen[:limit]
    builders = _builder_names(workspace, [p.id for p in page])
    rows = []
    for project in page:
        row: dict[str, Any] = {"id": project.id, "title": project.title, "status": project.status}
        if project.repos:
            row["repos"] = list(project.repos)
        if builders.get(project.id):
            row["builders"] = builders[project.id]
        rows.append(row)
    result: dict[str, Any] = {"projects": rows, "matched": len(chosen)}
    if len(chosen) > limit:
        result["more"] = (
            f"{len(chosen) - limit} more of {len(chosen)} not shown; narrow with status or "
            f"query, or raise limit (at most {MAX_LIMIT})"
        )
    return result


def get_project(workspace: Workspace, project_id: str) -> dict[str, Any]:
    project = _find(_projects(workspace), project_id)
    data = plain(project)
    data.pop("line", None)
    data.pop("in_fence", None)
    data["builders"] = _builder_names(workspace, [project.id]).get(project.id, [])
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

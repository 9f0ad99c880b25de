"""Find the workspace and its project list: explicit file, explicit dir, env, then cwd upwards."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# Looked for in this order inside a workspace.
PROJECTLIST_CANDIDATES: tuple[str, ...] = (".ai/projectlist.md", "codev/projectlist.md")
ENV_VAR = "FOREMAN_WORKSPACE"

Origin = Literal["--file", "--workspace", "FOREMAN_WORKSPACE", "current directory"]


class WorkspaceNotFound(Exception):
    """No project list where Foreman was told, or could think, to look."""


@dataclass(frozen=True)
class Workspace:
    root: Path
    projectlist_path: Path
    origin: Origin = "current directory"  # how it was found, for `doctor`


def find_workspace(workspace: Path | None = None, file: Path | None = None) -> Workspace:
    """The workspace to use: `file` if given, else `workspace`, else $FOREMAN_WORKSPACE,
    else the current directory or its nearest parent holding a project list."""
    if file is not None:
        file = Path(file).expanduser().absolute()
        if not file.is_file():
            raise WorkspaceNotFound(f"--file {file}: no such file")
        root = Path(workspace).expanduser().absolute() if workspace else _root_of(file)
        return Workspace(root, file, "--file")
    if workspace is not None:
        return _in_dir(Path(workspace), "--workspace")
    configured = os.environ.get(ENV_VAR)
    if configured:
        return _in_dir(Path(configured), ENV_VAR)
    here = Path.cwd()
    for directory in (here, *here.parents):
        found = _projectlist_in(directory)
        if found is not None:
            return Workspace(directory, found, "current directory")
    raise WorkspaceNotFound(
        f"no {' or '.join(PROJECTLIST_CANDIDATES)} in {here} or any parent; "
        f"pass --workspace DIR or --file PATH, or set {ENV_VAR}"
    )


def _in_dir(directory: Path, origin: Origin) -> Workspace:
    directory = directory.expanduser().absolute()
    if not directory.is_dir():
        raise WorkspaceNotFound(f"{origin} {directory}: no such directory")
    found = _projectlist_in(directory)
    if found is None:
        raise WorkspaceNotFound(
            f"{origin} {directory}: holds neither {' nor '.join(PROJECTLIST_CANDIDATES)}"
        )
    return Workspace(directory, found, origin)


def _projectlist_in(directory: Path) -> Path | None:
    for candidate in PROJECTLIST_CANDIDATES:
        path = directory / candidate
        if path.is_file():
            return path
    return None


def _root_of(file: Path) -> Path:
    # `<root>/.ai/projectlist.md` and `<root>/codev/projectlist.md` name their workspace.
    if file.parent.name in {".ai", "codev"}:
        return file.parent.parent
    return file.parent

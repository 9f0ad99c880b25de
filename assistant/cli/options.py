"""What commands share: `--workspace DIR` / `--file PATH`, refusals, JSON output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from tools.workspace import Workspace, WorkspaceNotFound, find_workspace

F = TypeVar("F", bound=Callable[..., Any])


def workspace_options(command: F) -> F:
    """Add `--workspace DIR` (parameter `workspace_dir`) and `--file PATH` (`file`)."""
    command = click.option(
        "--file",
        "file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="A project list file, named directly (overrides the search).",
    )(command)
    return click.option(
        "--workspace",
        "workspace_dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="The workspace holding .ai/projectlist.md or codev/projectlist.md "
        "(default: $FOREMAN_WORKSPACE, else the current directory or a parent).",
    )(command)


def open_workspace(workspace_dir: Path | None, file: Path | None) -> Workspace:
    """The workspace the options name, or exit 1 saying where Foreman looked."""
    try:
        return find_workspace(workspace_dir, file)
    except WorkspaceNotFound as exc:
        fail(str(exc))


def fail(message: str) -> NoReturn:
    """Exit 1 with `Error: message` on stderr, as click reports every other refusal."""
    raise click.ClickException(message)


def shown(path: Path) -> str:
    """A path as a user would type it: relative to the current directory when inside it."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def echo_json(data: Any) -> None:
    """`--json` output: indented, non-ASCII kept as written, paths and dates as strings."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))

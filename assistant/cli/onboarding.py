"""`foreman init` and `foreman setup`: from an empty directory to a configured gateway."""

from __future__ import annotations

from pathlib import Path

import click

from assistant.cli.options import shown


@click.command()
@click.argument(
    "directory", required=False, type=click.Path(path_type=Path, file_okay=False), default="."
)
def init(directory: Path) -> None:
    """Start a workspace: write a starter .ai/projectlist.md in DIRECTORY (default: here).

    \b
    The file holds the projects fence with one example entry (tagged `example`, so
    Foreman skips it) and the status lifecycle in a comment. An existing project list is
    never overwritten; codev's codev/projectlist.md is used as it is.

    \b
    Examples:
      foreman init
      foreman init ~/src/workspace
    """
    from tools.projectlist import create_projectlist

    if directory.exists() and not directory.is_dir():
        raise click.ClickException(f"{directory}: not a directory")
    starter = create_projectlist(directory)
    if starter.outcome == "exists":
        raise click.ClickException(
            f"{shown(starter.path)} already exists; nothing written (edit it, or run "
            "`foreman check` to see what Foreman reads)"
        )
    if starter.outcome == "codev":
        click.echo(
            f"Found codev's {shown(starter.path)}: Foreman will use it as it is; nothing written."
        )
        return
    click.echo(f"Wrote {shown(starter.path)} with one example entry (skipped: tagged `example`).")
    click.echo("Next: add your first project to it, then `foreman projects` lists it.")

"""Every `foreman` command and subcommand teaches by example in its --help."""

from __future__ import annotations

import click
from click.testing import CliRunner

from assistant.cli import COMMANDS, cli


def _command_paths() -> list[list[str]]:
    ctx = click.Context(cli)
    paths = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, name
        paths.append([name])
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in command.commands]
    return paths


def test_every_command_help_has_an_example() -> None:
    paths = _command_paths()
    assert ["builder", "terminate"] in paths and ["whatsapp", "login"] in paths
    lacking = []
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        if "Example" not in result.output:
            lacking.append(" ".join(path))
    assert lacking == []


def test_workspace_options_read_the_same_everywhere() -> None:
    helps = {}
    for path in _command_paths():
        out = (
            CliRunner()
            .invoke(cli, [*path, "--help"], terminal_width=300, max_content_width=300)
            .output
        )
        line = next((x for x in out.splitlines() if x.strip().startswith("--file")), None)
        if line is not None:
            helps[" ".join(path)] = line.split(maxsplit=2)[-1]
    assert {"chat", "approvals approve", "projects", "builder create", "mcp"} <= set(helps)
    assert set(helps.values()) == {"A project list file, named directly (overrides the search)."}

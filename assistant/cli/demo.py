"""`foreman demo`: build a demo workspace and watch a scripted session, offline."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.chat import render
from assistant.messages import Outbound

if TYPE_CHECKING:
    from rich.console import Console


class ConsoleView:
    """The demo on the terminal, rendered as `foreman chat` renders the same answers."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def user(self, text: str) -> None:
        self.console.print(f"\n[bold cyan]you>[/bold cyan] {text}", highlight=False)

    def note(self, text: str) -> None:
        # Paths are long: never wrapped, so they stay copyable.
        self.console.print(f"[dim]   ({text})[/dim]", highlight=False, soft_wrap=True)

    def answers(self, out: list[Outbound]) -> None:
        for message in out:
            render(self.console, message)


@click.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--interactive",
    "-i",
    is_flag=True,
    help="Afterwards, stay in `foreman chat` on the demo workspace.",
)
@click.option(
    "--model",
    "-m",
    help="Model for --interactive (default $FOREMAN_MODEL); 'offline' is the scripted policy.",
)
def demo(directory: Path | None, interactive: bool, model: str | None) -> None:
    """Build a demo workspace and play a scripted conversation through the real agent loop.

    \b
    The demo workspace (a workspace repo, two repos with bare remotes, .ai/projectlist.md,
    a Taskfile) goes into DIRECTORY (default: a new temporary directory, which is kept so
    you can look around); its state is the workspace's own, so `foreman chat` in it later
    carries on. The model is scripted and offline: no key, no
    network. You see: the list of sessions, starting project 0015 (two approval cards,
    approved; the builder appears on disk), wrapping up 0014 whose builder holds unsaved
    work (terminate refused, then forced with a second approval), and the final state.

    \b
    Examples:
      foreman demo
      foreman demo ./demo-ws
      foreman demo --interactive          then try /projects, /status 0016 planned, ...
      foreman demo -i --model offline     free text too, answered by the scripted policy
    """
    from rich.console import Console

    from assistant.demo import run_demo

    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="foreman-demo-"))
    elif directory.exists() and any(directory.iterdir()):
        raise click.UsageError(f"{directory} is not empty; give a new or empty directory.")
    directory.mkdir(parents=True, exist_ok=True)
    # the demo's state is its workspace's (run_demo makes DIRECTORY/workspace): a state that
    # cannot be made or read is one line here, before anything is built
    from assistant.cli.options import open_state
    from assistant.store import default_state_dir

    open_state(None, default_state_dir((directory / "workspace").resolve())).close()
    console = Console()
    report = asyncio.run(run_demo(directory.resolve(), ConsoleView(console)))
    console.print(
        f"\n[bold]Demo done[/bold] in {report.seconds:.1f}s, {report.requests} scripted model "
        f"requests.\nWorkspace: {report.workspace}\nState:     {report.state_dir}",
        soft_wrap=True,
        highlight=False,
    )
    if interactive:
        from assistant.cli.chat import TerminalChat, terminal_principal
        from assistant.cli.options import OFFLINE_MODEL, OFFLINE_NOTE, chat_model, configured_model
        from assistant.dm import DirectMessages
        from assistant.store import open_store
        from tools.workspace import find_workspace

        offline = configured_model(model) == OFFLINE_MODEL
        console.print(
            "\nYou are now in `foreman chat` on the demo workspace "
            + (
                f"({OFFLINE_NOTE})."
                if offline
                else "(free text needs a model key, or "
                "--model offline; slash commands work without)."
            )
        )
        svc = DirectMessages(
            open_store(report.state_dir),
            find_workspace(report.workspace),
            chat_model(model),
            {terminal_principal().key},
        )
        TerminalChat(svc, console).run()
        return
    console.print(
        "\nNext steps:\n"
        f"  cd {report.workspace}\n"
        "  foreman chat --model offline   carry on talking (scripted model; no key needed)\n"
        "  foreman approvals              the cards waiting in this workspace\n"
        "  foreman audit                  every change the demo made, and who approved it",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )

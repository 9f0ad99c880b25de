"""`foreman chat`: a terminal DM with the assistant, approval cards as [y/N] prompts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.options import open_workspace, workspace_options
from assistant.messages import ButtonData, ChatRef, Inbound, Outbound, Principal

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.dm import DirectMessages


def terminal_principal() -> Principal:
    """The local user at this terminal: the principal of the terminal chat and of the CLI."""
    from assistant.dm import local_principal

    return local_principal()


def terminal_chat() -> ChatRef:
    return ChatRef("terminal", terminal_principal().user_id)


def render(console: Console, message: Outbound) -> None:
    from rich.panel import Panel
    from rich.text import Text

    # Message text is data (project titles, notes, file names): never read as rich markup.
    if message.kind == "approval_card":
        console.print(Panel(Text(message.text), title="approval needed", border_style="yellow"))
    else:
        style = "red" if message.kind == "error" else "green"
        console.print(Text.assemble(("foreman> ", style), message.text))
    if message.choices and message.kind != "approval_card":
        labels = "  ".join(f"[{i}] {c.label}" for i, c in enumerate(message.choices, 1))
        console.print(Text("         " + labels))


class TerminalChat:
    """Reads lines, hands them to the service, renders answers; cards become [y/N] prompts."""

    def __init__(self, svc: DirectMessages, console: Console) -> None:
        self.svc = svc
        self.console = console
        self.principal = terminal_principal()
        self.chat = terminal_chat()
        self.loop = asyncio.new_event_loop()
        self._counter = 0

    def _inbound(self, text: str = "", callback: str | None = None) -> Inbound:
        self._counter += 1
        return Inbound(
            chat=self.chat,
            sender=self.principal,
            text=text,
            message_id=f"terminal-{self._counter}",
            callback_data=callback,
        )

    def _send(self, message: Inbound) -> list[Outbound]:
        task = self.loop.create_task(self.svc.handle(message))
        try:
            return self.loop.run_until_complete(task)
        except KeyboardInterrupt:
            task.cancel()
            self.loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            self.console.print("[yellow](interrupted)[/yellow]")
            return []

    def _ask(self, prompt: str) -> str | None:
        try:
            return self.console.input(prompt)
        except EOFError:
            return None

    def show(self, answers: list[Outbound]) -> None:
        """Render answers; ask about each card and each choice, feeding replies back in."""
        queue = list(answers)
        while queue:
            message = queue.pop(0)
            render(self.console, message)
            if message.kind == "approval_card":
                reply = self._ask(r"Approve? \[y/N] ")
                if reply is None:
                    return
                verb = "approve" if reply.strip().lower() in ("y", "yes") else "reject"
                queue += self._send(
                    self._inbound(callback=ButtonData(verb, message.extra["approval_id"]).encode())
                )
            elif message.choices:
                reply = self._ask(f"Choose 1-{len(message.choices)} (Enter to skip): ")
                if reply and reply.strip().isdigit() and 1 <= int(reply) <= len(message.choices):
                    choice = message.choices[int(reply) - 1]
                    queue += self._send(self._inbound(callback=choice.data))

    def run(self) -> None:
        self.console.print(
            "[dim]Foreman terminal chat. /help lists commands; Ctrl-D or Ctrl-C leaves.[/dim]"
        )
        try:
            while True:
                line = self._ask("[bold cyan]you>[/bold cyan] ")
                if line is None:
                    break
                if line.strip():
                    self.show(self._send(self._inbound(line)))
        except KeyboardInterrupt:
            pass
        finally:
            self.console.print("[dim]bye[/dim]")
            self.loop.close()


def open_service(
    workspace_dir: Path | None, file: Path | None, model: str | None
) -> DirectMessages:
    from assistant.dm import DirectMessages
    from assistant.store import open_store

    workspace = open_workspace(workspace_dir, file)
    return DirectMessages(open_store(), workspace, model, {terminal_principal().key})


@click.command()
@click.option(
    "--model",
    "-m",
    help="pydantic-ai model string (default $FOREMAN_MODEL, then anthropic:claude-sonnet-4-5).",
)
@workspace_options
def chat(model: str | None, workspace_dir: Path | None, file: Path | None) -> None:
    """Talk to the assistant in this terminal.

    \b
    Approval cards are asked as [y/N]; the history of this terminal chat is kept in the
    state directory ($FOREMAN_STATE_DIR) and picked up next time.
    Slash commands (/projects, /status ID STATUS, /approvals, /help) need no model key.

    \b
    Examples:
      foreman chat
      foreman chat --model openai:gpt-5 --workspace ~/work/acme
      echo /projects | foreman chat
    """
    from rich.console import Console

    TerminalChat(open_service(workspace_dir, file, model), Console()).run()

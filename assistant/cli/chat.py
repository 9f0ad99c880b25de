"""`foreman chat`: a terminal DM with the assistant, approval cards as [y/N] prompts."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.channels.terminal import FILES_FOLDER
from assistant.cli.options import (
    OFFLINE_MODEL,
    OFFLINE_NOTE,
    chat_model,
    configured_model,
    fail,
    open_state,
    open_workspace,
    state_dir_of,
    workspace_options,
)
from assistant.messages import ButtonData, ChatRef, Inbound, Outbound, Principal, neutral_outbound

if TYPE_CHECKING:
    from rich.console import Console

    from assistant.dm import DirectMessages


def terminal_principal() -> Principal:
    """The local user at this terminal: the principal of the terminal chat and of the CLI."""
    from assistant.dm import local_principal

    return local_principal()


def terminal_chat() -> ChatRef:
    return ChatRef("terminal", terminal_principal().user_id)


def render(console: Console, message: Outbound, files_folder: Path | None = None) -> None:
    from rich.panel import Panel
    from rich.text import Text

    from assistant.channels.terminal import save_files

    # Message text is data (project titles, notes, file names): never read as rich markup,
    # and no ANSI escape, control character or bidi override reaches the terminal.
    message = neutral_outbound(message)
    if message.kind == "approval_card":
        console.print(Panel(Text(message.text), title="approval needed", border_style="yellow"))
    else:
        style = "red" if message.kind == "error" else "green"
        console.print(Text.assemble(("foreman> ", style), message.text))
    if message.choices and message.kind != "approval_card":
        labels = "  ".join(f"[{i}] {c.label}" for i, c in enumerate(message.choices, 1))
        console.print(Text("         " + labels))
    if message.files:
        folder = files_folder or state_dir_of(None) / FILES_FOLDER
        for line in save_files(message.files, folder):
            # a path is copied from here: never wrapped
            console.print(Text("         " + line), soft_wrap=True)


class TerminalChat:
    """Reads lines, hands them to the service, renders answers; cards become [y/N] prompts."""

    def __init__(self, svc: DirectMessages, console: Console) -> None:
        self.svc = svc
        self.console = console
        self.principal = terminal_principal()
        self.chat = terminal_chat()
        self.loop = asyncio.new_event_loop()
        self._counter = 0
        self.files_folder = svc.store.path.parent / FILES_FOLDER

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
        from assistant.store import StateFileError

        task = self.loop.create_task(self.svc.handle(message))
        try:
            return self.loop.run_until_complete(task)
        except StateFileError as exc:
            # the state was deleted, replaced, locked or made unwritable under this chat: going
            # on would lose approvals and audit entries, so the chat stops and says why
            fail(str(exc))
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

    def show(self, answers: list[Outbound]) -> bool:
        """Render answers; ask about each card and each choice, feeding replies back in.

        False when input ended while a card was waiting: the cards stay pending.
        """
        queue = list(answers)
        cards: list[Outbound] = []
        while queue or cards:
            if not queue:
                answered = self._decide(cards)
                if answered is None:
                    ids = ", ".join(c.extra["approval_id"] for c in cards)
                    self.console.print(
                        f"Input ended; left pending: {ids}. Decide later with "
                        "foreman approvals approve ID (or reject ID).",
                        style="yellow",
                        highlight=False,
                        soft_wrap=True,
                    )
                    return False
                queue += answered
                continue
            message = queue.pop(0)
            render(self.console, message, self.files_folder)
            if message.kind == "approval_card":
                cards.append(message)
            elif message.choices:
                reply = self._ask(f"Choose 1-{len(message.choices)} (Enter to skip): ")
                if reply and reply.strip().isdigit() and 1 <= int(reply) <= len(message.choices):
                    choice = message.choices[int(reply) - 1]
                    queue += self._send(self._inbound(callback=choice.data))
        return True

    def _decide(self, cards: list[Outbound]) -> list[Outbound] | None:
        """Ask about the first waiting card until the answer is one; None when input ends.

        `y`/`yes` and `n`/`no` decide that card; `/approve ID` and `/reject ID` decide the
        card they name (any other ID goes to the assistant, which says what it knows of it).
        """
        ids = [c.extra["approval_id"] for c in cards]
        current = ids[0]
        if len(ids) > 1:
            self.console.print(f"{len(ids)} cards wait for you: {', '.join(ids)}", highlight=False)
        while True:
            reply = self._ask(rf"Approve {current}? \[y/n] ")
            if reply is None:
                return None
            answer = reply.strip()
            verb, target = _verb_and_target(answer, current)
            if verb is None:
                self.console.print(
                    f"Answer y to approve {current} or n to reject it "
                    "(or /approve ID, /reject ID for another card).",
                    highlight=False,
                )
                continue
            if target not in ids:
                return self._send(self._inbound(answer))
            del cards[ids.index(target)]
            return self._send(self._inbound(callback=ButtonData(verb, target).encode()))

    def run(self) -> None:
        self.console.print(
            "[dim]Foreman terminal chat. /help lists commands; Ctrl-D or Ctrl-C leaves.[/dim]"
        )
        try:
            while True:
                line = self._ask("[bold cyan]you>[/bold cyan] ")
                if line is None:
                    break
                if line.strip() and not self.show(self._send(self._inbound(line))):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            self.console.print("[dim]bye[/dim]")
            self.loop.close()


def _verb_and_target(answer: str, current: str) -> tuple[str | None, str]:
    """`approve`/`reject` and the card an answer at a card's prompt means (None: neither)."""
    lowered = answer.lower()
    if lowered in ("y", "yes"):
        return "approve", current
    if lowered in ("n", "no"):
        return "reject", current
    match = re.fullmatch(r"/(approve|reject)\s+(\S+)", lowered)
    if match:
        return match.group(1), match.group(2)
    return None, current


def open_service(
    workspace_dir: Path | None, file: Path | None, model: str | None
) -> DirectMessages:
    """The terminal user's assistant on the workspace, with its own state and chosen model."""
    from assistant.dm import DirectMessages

    workspace = open_workspace(workspace_dir, file)
    return DirectMessages(
        open_state(workspace), workspace, chat_model(model), {terminal_principal().key}
    )


@click.command()
@click.option(
    "--model",
    "-m",
    help="pydantic-ai model string (default $FOREMAN_MODEL, then foreman.toml's model, then "
    "anthropic:claude-sonnet-4-5); 'offline' is the scripted policy, no key needed.",
)
@workspace_options
def chat(model: str | None, workspace_dir: Path | None, file: Path | None) -> None:
    """Talk to the assistant in this terminal.

    \b
    At an approval card, answer y or n (or /approve ID, /reject ID); anything else is asked
    again, and cards left when input ends stay pending. The history of this terminal chat
    is kept in the workspace's state directory and picked up next time.
    Slash commands (/projects, /status ID STATUS, /approvals, /help) need no model key.

    \b
    Examples:
      foreman chat
      foreman chat --model offline
      foreman chat --model openai:gpt-5 --workspace ~/work/acme
      echo /projects | foreman chat
    """
    from rich.console import Console

    console = Console()
    svc = open_service(workspace_dir, file, model)
    if configured_model(model) == OFFLINE_MODEL:
        console.print(f"[dim]({OFFLINE_NOTE})[/dim]", highlight=False)
    TerminalChat(svc, console).run()

"""`foreman relay replay|run` and `foreman history`: the relay from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.options import (
    fail,
    open_state,
    open_workspace,
    workspace_here,
    workspace_options,
)

if TYPE_CHECKING:
    from assistant.relay import Notification
    from tools.opencode import OpenCodeClient
    from tools.workspace import Workspace


@click.group()
def relay() -> None:
    """The deterministic chat ↔ builder relay.

    \b
    Examples:
      foreman relay replay capture.sse.txt        one line per notification
      foreman relay replay events.jsonl --json    one JSON object per notification
      foreman relay run                           chat on stdin as `chat_id: text`
    """


@relay.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per notification.")
@click.option(
    "--retry-limit",
    type=int,
    default=None,
    help="Retries before a turn is aborted (default $FOREMAN_RETRY_LIMIT, else 5).",
)
def replay_command(file: Path, as_json: bool, retry_limit: int | None) -> None:
    """Print the notifications the relay would send for a recorded OpenCode stream.

    FILE is a `/event` SSE capture (`data: {...}` lines) or `/global/event` JSON lines.
    Each line is `<session id> <kind> <text>` (newlines in the text shown as \\n).

    \b
    Example:
      foreman relay replay ../shared/corpus/opencode-1.18.33/event-stream.sse.txt
    """
    from assistant.messages import neutral_line
    from assistant.relay import read_stream, replay, retry_limit_from_env

    skipped: list[str] = []
    try:
        limit = retry_limit if retry_limit is not None else retry_limit_from_env()
        notifications = replay(read_stream(file, skipped), retry_limit=limit, skipped=skipped)
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if skipped:
        # as the live relay does: the event is skipped and said once, the rest goes on
        more = f" (+{len(skipped) - 1} more)" if len(skipped) > 1 else ""
        first = neutral_line(skipped[0])
        click.echo(f"Skipped {len(skipped)} malformed event(s): {first}{more}", err=True)
    for n in notifications:
        if as_json:
            record = {"session_id": n.session_id, "kind": n.kind, "key": n.key, "text": n.text}
            if n.choices:
                record["choices"] = [{"label": c.label, "data": c.data} for c in n.choices]
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(replay_line(n))


def replay_line(notification: Notification) -> str:
    """`<session id> <kind> <text>`, the text as the terminal shows it, newlines escaped."""
    from assistant.channels.terminal import terminal_text

    text = terminal_text(notification.line, notification.choices)
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return f"{notification.session_id} {notification.kind} {text}"


@relay.command("run")
@workspace_options
@click.option("--platform", default="terminal", show_default=True, help="Platform of stdin chats.")
def run_command(workspace_dir: Path | None, file: Path | None, platform: str) -> None:
    """Run the relay alone: chat lines on stdin, notifications on stdout.

    Each stdin line is `chat_id: text` (a group bound to a builder); immediate replies and
    notifications are printed as `chat_id: text`, their choices numbered beneath (a bare
    number answers the latest choices in that chat). The local user is the principal.
    Needs FOREMAN_OPENCODE_URL (and FOREMAN_OPENCODE_PASSWORD when the server has one).

    \b
    Example:
      FOREMAN_OPENCODE_URL=http://127.0.0.1:4096 foreman relay run --workspace ~/ws
    """
    asyncio.run(_run(open_workspace(workspace_dir, file), platform))


async def _run(workspace: Workspace, platform: str) -> None:
    import getpass
    import os

    from assistant.channels.terminal import FILES_FOLDER, chosen, save_files, terminal_text
    from assistant.messages import ChatRef, Choice, Inbound, Outbound, Principal
    from assistant.relay import Relay
    from assistant.turn_changes import watch_turn_changes
    from tools.opencode import OpenCodeClient

    client = OpenCodeClient.from_env()
    if client is None:
        raise click.ClickException("FOREMAN_OPENCODE_URL is not set (the OpenCode server's URL)")
    me = Principal(platform, getpass.getuser(), os.environ.get("USER"))  # type: ignore[arg-type]
    store = open_state(workspace)
    relay = Relay(store, client, workspace, principals={me.key})
    watch_turn_changes(relay, workspace.root)

    # the latest choices shown in each chat: what a bare number typed there answers
    choices: dict[str, tuple[Choice, ...]] = {}

    files_folder = store.path.parent / FILES_FOLDER

    async def send(message: Outbound) -> str | None:
        if message.choices:
            choices[message.chat.key] = message.choices
        text = terminal_text(message.text, message.choices)
        print(f"{message.chat.chat_id}: {text}", flush=True)
        for line in save_files(message.files, files_folder):
            print(f"{message.chat.chat_id}: {line}", flush=True)
        return None

    async def read_stdin() -> None:
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            chat_id, sep, text = line.rstrip("\n").partition(":")
            if not sep:
                print(f"error: expected `chat_id: text`, got {line.strip()!r}", file=sys.stderr)
                continue
            chat = ChatRef(platform, chat_id.strip(), is_direct=False)  # type: ignore[arg-type]
            choice = chosen(text, choices.get(chat.key, ()))
            if choice is not None:
                choices.pop(chat.key)
                inbound = Inbound(chat=chat, sender=me, callback_data=choice.data)
            else:
                inbound = Inbound(chat=chat, sender=me, text=text.strip())
            for reply in await relay.handle(inbound):
                await send(reply)

    async with client:
        await _reachable(client)
        events = asyncio.create_task(relay.run(send))
        try:
            await read_stdin()
            # stdin closed: keep relaying notifications until interrupted
            await events
        finally:
            events.cancel()


async def _reachable(client: OpenCodeClient) -> None:
    """Exit 1 with one line when the OpenCode server cannot be used, before reading any input."""
    from tools.opencode import OpenCodeError, Unauthorized

    try:
        await client.health()
    except Unauthorized:
        fail(f"OpenCode at {client.base_url} refused the password: check FOREMAN_OPENCODE_PASSWORD")
    except OpenCodeError:
        fail(
            f"cannot reach OpenCode at {client.base_url}: start `opencode serve` there, "
            "or point FOREMAN_OPENCODE_URL at a running one"
        )


@click.command("history")
@click.argument("builder")
@click.option("--last", "last", type=int, default=None, help="Only the newest N exchanges.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per exchange.")
@workspace_options
def history(
    builder: str, last: int | None, as_json: bool, workspace_dir: Path | None, file: Path | None
) -> None:
    """Show the exchanges the relay carried for BUILDER (from the workspace's state).

    A builder with no exchanges yet prints that and exits 0; a name that is neither a
    builder on disk nor in the relay's records is an error.

    \b
    Examples:
      foreman history 0014-ironman-training --last 5
      foreman history 0014-ironman-training --json
    """
    from assistant.relay import exchanges, format_exchanges
    from tools.orchestrator import OrchestratorError, builder_path

    if last is not None and last < 1:
        raise click.UsageError("--last must be at least 1")
    workspace = workspace_here(workspace_dir, file)
    found = exchanges(open_state(workspace), builder, last=last)
    if not found:
        try:
            on_disk = workspace is not None and builder_path(workspace.root, builder).is_dir()
        except OrchestratorError:
            on_disk = False
        if not on_disk:
            where = f" in {workspace.root}" if workspace is not None else ""
            fail(f"no builder {builder}{where} and nothing relayed for it (foreman builder list)")
    if as_json:
        for exchange in found:
            click.echo(json.dumps(exchange.to_json(), ensure_ascii=False))
        return
    if not found:
        click.echo(f"No relayed exchanges for {builder} yet.")
        return
    click.echo(format_exchanges(found))

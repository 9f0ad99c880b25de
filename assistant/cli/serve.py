"""`foreman serve`, `foreman pairing …` and `foreman whatsapp login`: the gateway's commands."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from assistant.gateway import ConfigError, GatewayConfig, default_config_path, load_config

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="foreman.toml to read (default: $FOREMAN_CONFIG, else ./foreman.toml if present).",
)


def _load(config_path: Path | None) -> GatewayConfig:
    path = config_path or default_config_path()
    if path is not None:
        _read_env_file(path)
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _read_env_file(config: Path) -> None:
    """foreman.env beside the config, as the service reads it, so `foreman serve` by hand sees
    the same model key; a variable already set in the environment wins over the file."""
    from assistant.setup import EnvFile

    env = EnvFile.beside(config)
    for name, value in env.values().items():
        if name not in os.environ:
            os.environ[name] = value


def _state_dir(config: GatewayConfig) -> Path:
    """`state_dir` from the config or env, else the served workspace's own state directory."""
    from assistant.cli.options import state_dir_of
    from tools.workspace import WorkspaceNotFound, find_workspace

    if config.state_dir is not None:
        return config.state_dir
    try:
        return state_dir_of(find_workspace(config.workspace, None))
    except WorkspaceNotFound:
        # the assistant refuses to start without one, saying why; pairing needs none
        return state_dir_of(None)


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL, and a Telegram URL carries the bot token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


@click.command()
@config_option
@click.option("-v", "--verbose", is_flag=True, help="Log routing decisions and connections.")
def serve(config_path: Path | None, verbose: bool) -> None:
    """Run the configured chat channels, the router and the relay until SIGINT / SIGTERM.

    \b
    DMs from allow-listed users go to the assistant, messages in a bound group or topic
    go to the relay, everything else is ignored (or, with pairing on, answered with a
    pairing code). One health line is printed at start.

    \b
    The assistant needs a workspace (workspace = … or $FOREMAN_WORKSPACE, else the
    current directory's). The relay talks to the OpenCode server at $FOREMAN_OPENCODE_URL;
    without one, `foreman serve` runs its own `opencode serve` (127.0.0.1, a random
    password, output in opencode.log in the state directory) when it finds the binary
    ($FOREMAN_OPENCODE_BIN, else PATH), and restarts it if it dies. The MCP server runs
    when [mcp] http is set.

    \b
    Examples:
      FOREMAN_TELEGRAM_TOKEN=123:abc FOREMAN_TELEGRAM_ALLOWED_USERS=42 foreman serve
      foreman serve --config ~/foreman.toml -v
    """
    from assistant.channels import ChannelError
    from assistant.cli.options import open_state
    from assistant.gateway import build_serve_gateway
    from tools.opencode import ServerStartError

    _logging(verbose)
    config = _load(config_path)
    if config.telegram is None and config.whatsapp is None:
        raise click.ClickException(
            "no chat channel configured: set FOREMAN_TELEGRAM_TOKEN (or [telegram] token) "
            "or FOREMAN_WHATSAPP_DB (or [whatsapp] db)"
        )
    store = open_state(None, _state_dir(config))
    try:
        gateway = build_serve_gateway(config, store)
        asyncio.run(gateway.run_until_signalled(announce=click.echo))
    except (ConfigError, ChannelError) as exc:
        raise click.ClickException(str(exc)) from None
    except ServerStartError as exc:
        raise click.ClickException(
            f"{exc} (or set FOREMAN_OPENCODE_URL to a server of your own)"
        ) from None
    finally:
        store.close()


@click.group()
def pairing() -> None:
    """See and approve pairing codes given to people who DMed the assistant.

    \b
    With pairing on ([pairing] enabled = true, or FOREMAN_PAIRING=on) a DM from someone
    who is not allow-listed is answered with a short-lived code instead of reaching the
    assistant. Approving the code lets that person DM the assistant from then on.

    \b
    Examples:
      foreman pairing list
      foreman pairing approve K7PQ2XMA
    """


def _pairing_store(config_path: Path | None):  # type: ignore[no-untyped-def]
    from assistant.cli.options import open_state
    from assistant.gateway import Pairing

    config = _load(config_path)
    return Pairing(open_state(None, _state_dir(config)), max_pending=config.pairing.max_pending)


@pairing.command("list")
@config_option
def pairing_list(config_path: Path | None) -> None:
    """List the pairing codes still waiting for approval.

    \b
    Example:
      foreman pairing list --config ~/foreman.toml
    """
    pending = _pairing_store(config_path).pending()
    if not pending:
        click.echo("No pairing codes pending.")
        return
    for code in pending:
        who = f" ({code.display_name})" if code.display_name else ""
        click.echo(
            f"{code.code}  {code.platform}:{code.user_id}{who}  "
            f"expires {code.expires_at:%Y-%m-%d %H:%M} UTC"
        )


@pairing.command("approve")
@click.argument("code")
@config_option
def pairing_approve(code: str, config_path: Path | None) -> None:
    """Let the sender of CODE talk to the assistant from now on.

    \b
    Example:
      foreman pairing approve K7PQ2XMA
    """
    from assistant.gateway import PairingError

    try:
        approved = _pairing_store(config_path).approve(code)
    except PairingError as exc:
        raise click.ClickException(str(exc)) from None
    who = f" ({approved.display_name})" if approved.display_name else ""
    click.echo(
        f"Paired {approved.platform}:{approved.user_id}{who}; they can DM the assistant now."
    )


@click.group()
def whatsapp() -> None:
    """Link Foreman to a WhatsApp account (as a linked device).

    \b
    Examples:
      foreman whatsapp login
      foreman whatsapp login --phone '+49 170 1234567'
    """


@whatsapp.command("login")
@config_option
@click.option("--phone", help="Link with a pair code for this number instead of a QR code.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for linking.")
def whatsapp_login(config_path: Path | None, phone: str | None, timeout: float) -> None:
    """Link Foreman to a WhatsApp account as a linked device, and store the session.

    \b
    Use a number of Foreman's own (a second SIM or a WhatsApp Business number): Foreman
    answers every DM that reaches that account. The QR code is shown here; scan it with
    WhatsApp > Settings > Linked devices > Link a device on the phone of that number. With
    --phone, a pair code is shown instead, to enter under "Link with phone number instead".

    \b
    The session file is $FOREMAN_WHATSAPP_DB, else [whatsapp] db, else whatsapp.db in
    the state directory. It is a credential (anyone holding it reads your chats): it is
    kept mode 600 in a mode 700 folder.

    \b
    Examples:
      foreman whatsapp login
      foreman whatsapp login --phone '+49 170 1234567'
    """
    from assistant.channels.whatsapp_login import LoginError, login
    from assistant.store import default_state_dir

    _logging(False)
    config = _load(config_path)
    if config.whatsapp is not None:
        db = config.whatsapp.db
    else:
        db = (config.state_dir or default_state_dir()) / "whatsapp.db"
    try:
        linked = asyncio.run(login(db, phone=phone, show=click.echo, timeout=timeout))
    except LoginError as exc:
        raise click.ClickException(str(exc)) from None
    if linked.already:
        click.echo(
            f"Already linked as {linked.account} ({db}). To link another account, unlink "
            "this device on the phone (Linked devices) and run the login again."
        )
    else:
        click.echo(
            f"Linked {linked.account}. Session stored in {db} (a credential: keep it private)."
        )
    if config.whatsapp is None:
        click.echo(f"To use it, set FOREMAN_WHATSAPP_DB={db} or [whatsapp] db in foreman.toml.")

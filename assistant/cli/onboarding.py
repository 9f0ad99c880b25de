"""`foreman init` and `foreman setup`: from an empty directory to a configured gateway."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from assistant.cli.options import shown

if TYPE_CHECKING:
    from assistant.setup import ConfigFile


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


class _Terminal:
    """Setup's questions on the terminal (or stdin, for a script that pipes the answers)."""

    def say(self, text: str) -> None:
        click.echo(text)

    def ask(self, question: str, default: str | None = None, *, option: str = "") -> str:
        return str(click.prompt(question, default=default, show_default=bool(default)))

    def secret(self, question: str, *, option: str = "") -> str:
        return str(click.prompt(question, hide_input=True))

    def confirm(self, question: str, default: bool = True) -> bool:
        return click.confirm(question, default=default)


class _Unattended(_Terminal):
    """`--yes`: every confirmation is yes, defaults are taken, a missing value skips the step."""

    def ask(self, question: str, default: str | None = None, *, option: str = "") -> str:
        from assistant.setup import MissingAnswer

        if default is None:
            raise MissingAnswer(option)
        return default

    def secret(self, question: str, *, option: str = "") -> str:
        from assistant.setup import MissingAnswer

        raise MissingAnswer(option)

    def confirm(self, question: str, default: bool = True) -> bool:
        return True


@click.command()
@click.argument(
    "step", required=False, type=click.Choice(["model", "telegram", "whatsapp", "opencode"])
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="foreman.toml to write (default: $FOREMAN_CONFIG, else ./foreman.toml).",
)
@click.option(
    "--workspace",
    "workspace_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="The workspace to record (default: the one found from here).",
)
@click.option(
    "-y",
    "--yes",
    "assume_yes",
    is_flag=True,
    help="Ask nothing: answers come from options and the environment; "
    "a step missing one is skipped.",
)
@click.option(
    "--skip",
    multiple=True,
    type=click.Choice(["model", "telegram", "whatsapp", "opencode"]),
    help="Leave this step out (repeatable).",
)
@click.option("--model", help="provider:name, e.g. anthropic:claude-sonnet-4-5.")
@click.option(
    "--model-key",
    help="The provider's key; its variable (e.g. $ANTHROPIC_API_KEY) keeps it out of `ps`.",
)
@click.option("--check", "check_model", is_flag=True, help="Send the model one minimal request.")
@click.option(
    "--telegram-token",
    help="The bot token from @BotFather; $FOREMAN_TELEGRAM_TOKEN keeps it out of `ps`.",
)
@click.option(
    "--telegram-user",
    multiple=True,
    help="Allow this numeric user id instead of waiting for a first DM (repeatable).",
)
@click.option(
    "--wait",
    "telegram_wait",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the first DM.",
)
@click.option(
    "--whatsapp-phone", help="Link WhatsApp with a pair code for this number instead of a QR code."
)
@click.option(
    "--whatsapp-allow",
    multiple=True,
    help="A phone number allowed to DM the assistant (repeatable).",
)
@click.option("--opencode-url", help="The OpenCode server's URL, e.g. http://127.0.0.1:4096.")
def setup(
    step: str | None,
    config_path: Path | None,
    workspace_dir: Path | None,
    assume_yes: bool,
    skip: tuple[str, ...],
    model: str | None,
    model_key: str | None,
    check_model: bool,
    telegram_token: str | None,
    telegram_user: tuple[str, ...],
    telegram_wait: float,
    whatsapp_phone: str | None,
    whatsapp_allow: tuple[str, ...],
    opencode_url: str | None,
) -> None:
    """Set Foreman up step by step: model, telegram, whatsapp, opencode.

    \b
    Each step can be skipped, or run alone: foreman setup telegram. Answers go to
    foreman.toml (mode 0600: it holds tokens); a model key goes to foreman.env beside
    it, which `foreman service` passes to the gateway. The telegram step checks the
    token, then waits for you to DM the bot and allow-lists the account that did.

    \b
    Examples:
      foreman setup
      foreman setup telegram
      foreman setup model --model openai:gpt-5 --check
      foreman setup --yes --telegram-token "$TOKEN" --telegram-user 42 --skip whatsapp
    """
    import os

    from assistant.cli.options import fail
    from assistant.setup import (
        STEP_NAMES,
        STEP_TITLES,
        STEPS,
        Answers,
        ConfigFile,
        MissingAnswer,
        SetupError,
    )

    path = config_path or Path(os.environ.get("FOREMAN_CONFIG") or "foreman.toml")
    try:
        config = ConfigFile(path)
    except SetupError as exc:
        fail(str(exc))
    answers = Answers(
        assume_yes=assume_yes,
        model=model,
        model_key=model_key,
        check_model=check_model,
        telegram_token=telegram_token,
        telegram_users=telegram_user,
        telegram_wait=telegram_wait,
        whatsapp_phone=whatsapp_phone,
        whatsapp_allowed=whatsapp_allow,
        opencode_url=opencode_url,
    )
    ui = _Unattended() if assume_yes else _Terminal()
    chosen = [step] if step else [name for name in STEP_NAMES if name not in skip]
    if step is None:
        click.echo(
            f"Foreman setup writes {shown(config.path)}. Each step can be skipped, or run "
            "alone later: foreman setup model|telegram|whatsapp|opencode."
        )
    _record_workspace(config, workspace_dir)
    failed = False
    for name in chosen:
        if step is None:
            click.echo(f"\n{name}: {STEP_TITLES[name]}")
            if name == "whatsapp" and assume_yes and not (whatsapp_phone or whatsapp_allow):
                click.echo("whatsapp: skipped (a QR code needs someone to scan it)")
                continue
            if not assume_yes and not click.confirm(f"Set up {name} now?", default=True):
                click.echo(f"{name}: skipped; later: foreman setup {name}")
                continue
        try:
            STEPS[name](config, answers, ui)
        except MissingAnswer as missing:
            if step is not None:
                fail(f"{name}: needs {missing.option} with --yes")
            click.echo(f"{name}: skipped (pass {missing.option})")
        except SetupError as exc:
            if step is not None:
                fail(f"{name}: {exc}")
            click.echo(f"Error: {name}: {exc}", err=True)
            failed = True
    _closing(config.path)
    if failed:
        raise SystemExit(1)


def _record_workspace(config: ConfigFile, workspace_dir: Path | None) -> None:
    """foreman.toml names the workspace, so the service finds it from anywhere."""
    from tools.workspace import WorkspaceNotFound, find_workspace

    if config.get("", "workspace") and workspace_dir is None:
        return
    try:
        workspace = find_workspace(workspace_dir)
    except WorkspaceNotFound:
        if workspace_dir is not None:
            raise click.ClickException(
                f"--workspace {workspace_dir}: no project list there; `foreman init "
                f"{workspace_dir}` starts one"
            ) from None
        click.echo("No project list here or above: `foreman init` starts one (the workspace).")
        return
    config.set("", "workspace", str(workspace.root))
    config.save()


def _closing(path: Path) -> None:
    import subprocess

    if not path.is_file():
        click.echo("\nNothing written.")
        return
    click.echo(f"\nWrote {shown(path)} (mode 0600: it holds tokens).")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(path)], cwd=path.parent, capture_output=True
    ).returncode
    if ignored == 1:  # inside a git repository, and not ignored
        click.echo("It is inside a git repository: add foreman.toml and foreman.env to .gitignore.")
    click.echo(
        "Next: `foreman serve` runs the gateway here; `foreman service install` runs it in "
        "the background, restarted on failure."
    )

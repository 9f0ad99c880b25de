"""The `foreman` command line.

Each command lives in the module of the tier it drives and is imported only when it is
invoked, so deterministic commands never pay for pydantic-ai or the chat libraries.
"""

from __future__ import annotations

import importlib

import click

from assistant import __version__

# command name -> "module:attribute"; one line per command, grouped by tier.
COMMANDS: dict[str, str] = {
    # project list (tools/projectlist)
    "projects": "assistant.cli.projects:projects",
    "project": "assistant.cli.projects:project",
    "status": "assistant.cli.projects:status",
    "check": "assistant.cli.projects:check",
    "doctor": "assistant.cli.doctor:doctor",
    "init": "assistant.cli.onboarding:init",
    "setup": "assistant.cli.onboarding:setup",
    # gateway and channels (assistant/gateway, assistant/channels)
    "serve": "assistant.cli.serve:serve",
    "pairing": "assistant.cli.serve:pairing",
    "whatsapp": "assistant.cli.serve:whatsapp",
    "service": "assistant.cli.service:service",
    # orchestrator (tools/orchestrator)
    "builder": "assistant.cli.builders:builder",
    # relay (assistant/relay)
    "relay": "assistant.cli.relay:relay",
    "history": "assistant.cli.relay:history",
    # assistant (assistant/agent, assistant/approvals)
    "chat": "assistant.cli.chat:chat",
    "demo": "assistant.cli.demo:demo",
    "approvals": "assistant.cli.approvals:approvals",
    "audit": "assistant.cli.audit:audit",
    # interop and evals (assistant/interop, assistant/evals)
    "mcp": "assistant.cli.interop:mcp",
    "a2a": "assistant.cli.interop:a2a",
    "eval": "assistant.cli.evals:eval_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="foreman")
def cli() -> None:
    """Foreman: steer your AI coding builders from chat.

    \b
    Start here:
      foreman demo            build a demo workspace and watch a scripted session
      foreman init            start a workspace: a starter .ai/projectlist.md
      foreman setup           model key, Telegram, WhatsApp, OpenCode: foreman.toml
      foreman doctor          show what Foreman found and what is missing
      foreman projects        list the projects of the current workspace
      foreman chat            talk to the assistant in this terminal
      foreman serve           the assistant on Telegram / WhatsApp, and the relay

    Every command explains itself with examples: foreman COMMAND --help.

    The workspace is --workspace DIR, else $FOREMAN_WORKSPACE, else the current
    directory or the nearest parent holding .ai/projectlist.md or codev/projectlist.md.
    """


def main() -> None:
    cli(prog_name="foreman")

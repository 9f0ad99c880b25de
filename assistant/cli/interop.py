"""`foreman mcp` and `foreman a2a`: other agents call Foreman; only the human approves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from assistant.cli.options import open_state, open_workspace, workspace_options

model_option = click.option(
    "--model",
    metavar="MODEL",
    help="Model for `ask` turns (default: $FOREMAN_MODEL); 'offline' is the scripted policy "
    "the evals use, for trying things without a key.",
)
approver_option = click.option(
    "--approver",
    metavar="PLATFORM:USER",
    help="Whose DM gets the approval cards (default: $FOREMAN_APPROVER, else terminal:$USER, "
    "the user `foreman approvals` acts as).",
)


def _require_extra(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise click.ClickException(
            f"this command needs {module}: pip install 'foreman-assistant[mcp]'"
        )


def _bridge(
    workspace: Path | None, file: Path | None, model: str | None, approver: str | None
) -> Any:
    from assistant.dm import DirectMessages
    from assistant.interop import Bridge, local_human, parse_principal

    try:
        human = parse_principal(approver) if approver else local_human()
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    found = open_workspace(workspace, file)
    # `offline` (the scripted policy) resolves like any other model name.
    chosen = model or os.environ.get("FOREMAN_MODEL")
    # Only the human is a principal: the caller speaks for them and can never resolve a card.
    service = DirectMessages(open_state(found), found, chosen, principals={human.key})
    return Bridge(service=service, workspace=found, approver=human)


def _announce(what: str, url: str, host: str) -> None:
    from assistant.interop import is_loopback

    click.echo(f"foreman {what}: {url} (bearer token required)", err=True)
    if not is_loopback(host):
        click.echo(
            f"warning: {host} is reachable from other machines; keep the token secret", err=True
        )


@click.command("mcp")
@click.option(
    "--http",
    "http",
    metavar="HOST:PORT",
    help="Serve streamable HTTP at HOST:PORT (path /mcp) instead of stdio. Binds 127.0.0.1 "
    "unless HOST says otherwise; needs FOREMAN_MCP_TOKEN, sent as `Authorization: Bearer`.",
)
@workspace_options
@model_option
@approver_option
def mcp(
    http: str | None,
    workspace_dir: Path | None,
    file: Path | None,
    model: str | None,
    approver: str | None,
) -> None:
    """Serve Foreman as an MCP server (stdio by default).

    Tools: list_projects, get_project, list_builders, builder_status, reconcile (read);
    request_status_change, request_builder_create, request_builder_terminate (file an approval
    card for the human, return its id); approval_status(id); ask(message). No tool approves:
    the human decides in their DM or with `foreman approvals approve ID`.

    \b
    Examples:
      foreman mcp                                   # stdio, e.g. in an MCP client's config
      FOREMAN_MCP_TOKEN=s3cret foreman mcp --http 127.0.0.1:8765
    """
    _require_extra("fastmcp")
    import asyncio

    from assistant.interop import MissingToken, parse_host_port, public_url, token_from_env
    from assistant.interop.mcp import build_mcp_server, serve_http
    from assistant.messages import Principal

    caller = Principal("mcp", "client")
    if http is None:
        server = build_mcp_server(_bridge(workspace_dir, file, model, approver), caller=caller)
        server.run("stdio", show_banner=False)
        return
    try:
        host, port = parse_host_port(http)
        token = token_from_env("FOREMAN_MCP_TOKEN")
    except (ValueError, MissingToken) as error:
        raise click.ClickException(str(error)) from None
    bridge = _bridge(workspace_dir, file, model, approver)
    server = build_mcp_server(bridge, caller=caller)
    _announce("mcp", public_url(host, port, "/mcp"), host)
    asyncio.run(serve_http(server, host, port, token))


@click.command("a2a")
@click.option(
    "--http",
    "http",
    metavar="HOST:PORT",
    required=True,
    help="Serve at HOST:PORT (127.0.0.1 unless HOST says otherwise). Needs FOREMAN_A2A_TOKEN "
    "(or FOREMAN_MCP_TOKEN) as a bearer token; the agent card stays public.",
)
@workspace_options
@model_option
@approver_option
def a2a(
    http: str,
    workspace_dir: Path | None,
    file: Path | None,
    model: str | None,
    approver: str | None,
) -> None:
    """Serve the assistant as an A2A agent.

    Each message is a turn with the assistant in the calling agent's own chat (one per A2A
    context). A change it proposes is filed as an approval card for the human; the reply carries
    the approval id. Nothing an A2A caller sends can approve it.

    \b
    Example:
      FOREMAN_A2A_TOKEN=s3cret foreman a2a --http 127.0.0.1:8766
    """
    _require_extra("fasta2a")
    import uvicorn

    from assistant.interop import MissingToken, parse_host_port, public_url, token_from_env
    from assistant.interop.a2a import build_a2a_app
    from assistant.messages import Principal

    try:
        host, port = parse_host_port(http)
        token = token_from_env("FOREMAN_A2A_TOKEN", "FOREMAN_MCP_TOKEN")
    except (ValueError, MissingToken) as error:
        raise click.ClickException(str(error)) from None
    caller = Principal("a2a", "client")
    bridge = _bridge(workspace_dir, file, model, approver)
    url = public_url(host, port)
    app = build_a2a_app(bridge, caller=caller, url=url, token=token)
    _announce("a2a", url, host)
    uvicorn.run(app, host=host, port=port, log_level="warning")

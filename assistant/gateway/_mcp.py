"""The MCP server inside `foreman serve`: cards other agents file go to the human's chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from assistant.gateway._config import ConfigError, GatewayConfig
from assistant.interop import Bridge, parse_host_port, public_url
from assistant.messages import Outbound, Principal


def approver_of(config: GatewayConfig) -> Principal:
    """Whose DM gets cards filed by other agents: the first allow-listed user."""
    if config.telegram is not None and config.telegram.allowed_users:
        return Principal("telegram", config.telegram.allowed_users[0])
    if config.whatsapp is not None and config.whatsapp.allowed:
        return Principal("whatsapp", config.whatsapp.allowed[0])
    raise ConfigError(
        "mcp.http: cards filed over MCP need someone to approve them; allow-list a user "
        "(FOREMAN_TELEGRAM_ALLOWED_USERS or FOREMAN_WHATSAPP_ALLOWED)",
        path=config.path,
    )


def mcp_job(
    config: GatewayConfig,
    service: Any,
    workspace: Any,
    deliver: Callable[[Outbound], Awaitable[object]],
) -> tuple[Callable[[], Awaitable[None]], str]:
    """A coroutine function serving MCP over HTTP (bearer token), and its URL."""
    try:
        from assistant.interop.mcp import build_mcp_server, serve_http
    except ModuleNotFoundError:
        raise ConfigError(
            "mcp.http: the MCP server is not installed: pip install 'foreman-assistant[mcp]'",
            path=config.path,
        ) from None

    assert config.mcp.http is not None and config.mcp.token is not None
    try:
        host, port = parse_host_port(config.mcp.http)
    except ValueError as exc:
        raise ConfigError(f"mcp.http: {exc}", path=config.path) from None
    caller = Principal("mcp", "client")
    # Cards an MCP caller raises (request_* tools, `ask`) are posted in the approver's DM at once.
    bridge = Bridge(
        service=service, workspace=workspace, approver=approver_of(config), deliver=deliver
    )
    server = build_mcp_server(bridge, caller=caller)
    token = config.mcp.token

    async def serve() -> None:
        await serve_http(server, host, port, token)

    return serve, public_url(host, port, "/mcp")

"""Other agents call Foreman: an MCP server and an A2A agent, both unable to approve anything."""

import os

# FastMCP checks the package index before its banner and prints the banner on stdio (where it
# would corrupt the protocol); set before anything here imports it.
os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")
os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")


from assistant.interop._auth import (
    MissingToken,
    is_loopback,
    parse_host_port,
    public_url,
    token_from_env,
)
from assistant.interop._bridge import (
    Bridge,
    RequestRefused,
    approval_view,
    dm_of,
    local_human,
    parse_principal,
)

__all__ = [
    "Bridge",
    "MissingToken",
    "RequestRefused",
    "approval_view",
    "dm_of",
    "is_loopback",
    "local_human",
    "parse_host_port",
    "parse_principal",
    "public_url",
    "token_from_env",
]

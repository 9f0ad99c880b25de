"""Who may call the HTTP servers: a bearer token from the environment, and loopback web origins.

Both refusals answer with a JSON-RPC error body, which is what MCP and A2A clients show their
user: a 401 that says the token is wrong (not an invitation to an OAuth flow Foreman does not
have), a 403 that names the origin.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

MCP_TOKEN_VARIABLE = "FOREMAN_MCP_TOKEN"
# JSON-RPC's range for server errors; the same code the MCP SDK uses for a refused connection
UNAUTHORIZED = -32001
FORBIDDEN = -32003


class MissingToken(Exception):
    """An HTTP server was asked for without its bearer token configured."""


def token_from_env(*variables: str) -> str:
    for variable in variables:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    names = " or ".join(variables)
    raise MissingToken(f"serving over HTTP needs a bearer token: set {names}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT` or `:PORT`/`PORT` (then 127.0.0.1); a clear error names what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--http {value!r}: PORT must be a number from 1 to 65535")
    return host, int(port)


def public_url(host: str, port: int, path: str = "/") -> str:
    """The URL callers reach a server bound to `host` at: IPv6 in brackets, and a wildcard bind
    (0.0.0.0, ::) named by this machine's host name, which other machines can resolve.
    """
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname() or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


async def _refuse(send: Send, status: int, code: int, message: str, extra: list) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})
    headers = [(b"content-type", b"application/json"), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


class BearerAuth:
    """ASGI middleware: every request but the listed public paths needs `Authorization: Bearer`."""

    def __init__(
        self,
        app: ASGIApp,
        token: str,
        public: tuple[str, ...] = (),
        variable: str = MCP_TOKEN_VARIABLE,
    ) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self.public = public
        self.message = f"missing or wrong bearer token: send Authorization: Bearer ${variable}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if hmac.compare_digest(headers.get(b"authorization", b""), self._expected):
            await self.app(scope, receive, send)
            return
        # error="invalid_token" and no resource_metadata: a static token, no OAuth to discover
        challenge = (
            f'Bearer realm="foreman", error="invalid_token", error_description="{self.message}"'
        )
        await _refuse(
            send, 401, UNAUTHORIZED, self.message, [(b"www-authenticate", challenge.encode())]
        )


def is_loopback_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and is_loopback(parts.hostname or "")


class LoopbackOrigins:
    """ASGI middleware: a request from a web page must come from a page on this machine.

    A browser names the page's origin; a foreign one (any site the user has open, including one
    whose name was rebound to 127.0.0.1) is refused with 403. Requests without an Origin are
    not from a browser page and pass on to the token check.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin = dict(scope["headers"]).get(b"origin")
            if origin is not None and not is_loopback_origin(origin.decode("latin-1")):
                message = f"requests from the web origin {origin.decode('latin-1')} are not allowed"
                await _refuse(send, 403, FORBIDDEN, message, [])
                return
        await self.app(scope, receive, send)

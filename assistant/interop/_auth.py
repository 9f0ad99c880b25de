"""Bearer-token checks for the HTTP servers; the token comes from the environment only."""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send


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


class BearerAuth:
    """ASGI middleware: every request but the listed public paths needs `Authorization: Bearer`."""

    def __init__(self, app: ASGIApp, token: str, public: tuple[str, ...] = ()) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if hmac.compare_digest(headers.get(b"authorization", b""), self._expected):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b'{"error":"missing or wrong bearer token"}'}
        )

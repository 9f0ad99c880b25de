from __future__ import annotations

from typing import Any


class OpenCodeError(Exception):
    """The OpenCode server refused a request, or could not be reached; `str()` is its message."""

    def __init__(
        self, message: str, *, status: int | None = None, name: str | None = None, body: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.name = name
        self.body = body


class NotFound(OpenCodeError):
    """404: no such session, permission or question."""


class BadRequest(OpenCodeError):
    """400: the server rejected the request body or parameters."""


class Unauthorized(OpenCodeError):
    """401: wrong or missing server password."""


class ServerUnavailable(OpenCodeError):
    """The server could not be reached (refused, reset, timed out)."""

"""An async client for `opencode serve`: sessions, prompts, permissions, questions, events;
and `ManagedServer`, an `opencode serve` run as a child process."""

from tools.opencode._binary import find_opencode_binary
from tools.opencode._client import FilePart, OpenCodeClient, PermissionReply, prompt_body
from tools.opencode._errors import (
    BadRequest,
    NotFound,
    OpenCodeError,
    ServerUnavailable,
    Unauthorized,
)
from tools.opencode._events import MalformedEvent, parse_event_data
from tools.opencode._models import (
    Event,
    Permission,
    Question,
    QuestionItem,
    QuestionOption,
    Resync,
    Session,
    SessionStatus,
)
from tools.opencode._server import ManagedServer, Restart, ServerStartError, ServerStatus

__all__ = [
    "BadRequest",
    "Event",
    "FilePart",
    "MalformedEvent",
    "ManagedServer",
    "NotFound",
    "OpenCodeClient",
    "OpenCodeError",
    "Permission",
    "PermissionReply",
    "Question",
    "QuestionItem",
    "QuestionOption",
    "Restart",
    "Resync",
    "ServerStartError",
    "ServerStatus",
    "ServerUnavailable",
    "Session",
    "SessionStatus",
    "Unauthorized",
    "find_opencode_binary",
    "parse_event_data",
    "prompt_body",
]

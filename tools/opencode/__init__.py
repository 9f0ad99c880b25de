"""An async client for `opencode serve`: sessions, prompts, permissions, questions, events."""

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

__all__ = [
    "BadRequest",
    "Event",
    "FilePart",
    "MalformedEvent",
    "NotFound",
    "OpenCodeClient",
    "OpenCodeError",
    "Permission",
    "PermissionReply",
    "Question",
    "QuestionItem",
    "QuestionOption",
    "Resync",
    "ServerUnavailable",
    "Session",
    "SessionStatus",
    "Unauthorized",
    "find_opencode_binary",
    "parse_event_data",
    "prompt_body",
]

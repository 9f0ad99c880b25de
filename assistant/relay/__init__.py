"""The deterministic relay between bound chats and builder OpenCode sessions (no LLM)."""

from assistant.relay._bindings import (
    DEFAULT_PATTERNS,
    Binding,
    builder_directory,
    builder_for_project,
    save_binding,
    stored_bindings,
)
from assistant.relay._classify import IDLE, Notification, SessionState, classify
from assistant.relay._format import render, split_text
from assistant.relay._journal import Exchange, exchanges, failed_deliveries, history_events
from assistant.relay._relay import Relay, match_answer
from assistant.relay._replay import read_stream, replay

__all__ = [
    "DEFAULT_PATTERNS",
    "IDLE",
    "Binding",
    "Exchange",
    "Notification",
    "Relay",
    "SessionState",
    "builder_directory",
    "builder_for_project",
    "classify",
    "exchanges",
    "failed_deliveries",
    "history_events",
    "match_answer",
    "read_stream",
    "render",
    "replay",
    "save_binding",
    "split_text",
    "stored_bindings",
]

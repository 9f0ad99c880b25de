"""The deterministic relay between bound chats and builder OpenCode sessions (no LLM)."""

from assistant.relay._bindings import Binding
from assistant.relay._classify import IDLE, Notification, SessionState, classify
from assistant.relay._format import render, split_text
from assistant.relay._journal import Exchange, exchanges, failed_deliveries, history_events
from assistant.relay._relay import Relay, match_answer
from assistant.relay._replay import read_stream, replay

__all__ = [
    "IDLE",
    "Binding",
    "Exchange",
    "Notification",
    "Relay",
    "SessionState",
    "classify",
    "exchanges",
    "failed_deliveries",
    "history_events",
    "match_answer",
    "read_stream",
    "render",
    "replay",
    "split_text",
]

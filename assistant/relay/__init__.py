"""The deterministic relay between bound chats and builder OpenCode sessions (no LLM).

Rooms, one concept each: `_bindings` (which chat talks to which builder), `_sessions` (each
builder's current session and what it waits on), `_forwarding` (chat → builder),
`_reports` (unbound builders the assistant spoke to, heard in the principal's DM),
`_commands` (group commands and buttons), `_classify` (the fixed event table), `_notice`
(a platform-neutral notification), `_events` (the event stream, classified),
`_delivery` (who hears a notification, sent once per chat), `_journal` (what is stored),
`_replay` (a captured stream through the table); `_relay` assembles them.
"""

from assistant.relay._bindings import (
    DEFAULT_PATTERNS,
    Binding,
    builder_directory,
    builder_for_project,
    remove_binding,
    save_binding,
    stored_bindings,
)
from assistant.relay._classify import IDLE, SessionState, classify
from assistant.relay._commands import trigger_line
from assistant.relay._events import DoneExtra, DoneNote, TurnPhase, TurnWatch, retry_limit_from_env
from assistant.relay._journal import Exchange, exchanges, failed_deliveries, format_exchanges
from assistant.relay._notice import Notification
from assistant.relay._relay import Relay
from assistant.relay._replay import read_stream, replay
from assistant.relay._reports import Report, save_report, stored_reports, tell_builder
from assistant.relay._sessions import match_answer

__all__ = [
    "DEFAULT_PATTERNS",
    "IDLE",
    "Binding",
    "DoneExtra",
    "DoneNote",
    "Exchange",
    "Notification",
    "Relay",
    "Report",
    "SessionState",
    "TurnPhase",
    "TurnWatch",
    "builder_directory",
    "builder_for_project",
    "classify",
    "exchanges",
    "failed_deliveries",
    "format_exchanges",
    "match_answer",
    "read_stream",
    "remove_binding",
    "replay",
    "retry_limit_from_env",
    "save_binding",
    "save_report",
    "stored_bindings",
    "stored_reports",
    "tell_builder",
    "trigger_line",
]

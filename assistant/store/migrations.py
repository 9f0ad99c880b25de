"""Schema changes, each a small named function applied once, in order, and recorded.

Add a change by appending a new function decorated with ``@migration``; never edit one that
has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded in `_migrations`; return the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        fn(conn)
        conn.execute(
            "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
            (fn.__name__, datetime.now(UTC).isoformat()),
        )
        applied.append(fn.__name__)
    return applied


@migration
def m001_conversations(conn: sqlite3.Connection) -> None:
    # One row per chat: the pydantic-ai message history as JSON, plus running usage.
    conn.execute(
        """CREATE TABLE conversations (
            chat_key TEXT PRIMARY KEY,
            messages_json TEXT NOT NULL DEFAULT '[]',
            requests INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        )"""
    )


@migration
def m002_approvals_and_audit(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE approvals (
            id TEXT PRIMARY KEY,
            chat_key TEXT NOT NULL,
            principal TEXT NOT NULL,
            tool_name TEXT NOT NULL,
            tool_call_id TEXT,
            args_json TEXT NOT NULL,
            card TEXT NOT NULL,
            precondition_json TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL,
            expires_at TEXT,
            resolved_at TEXT,
            resolved_by TEXT,
            result_json TEXT
        )"""
    )
    conn.execute("CREATE INDEX approvals_chat_state ON approvals (chat_key, state)")
    conn.execute(
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            chat_key TEXT,
            message_id TEXT,
            action TEXT NOT NULL,
            approval_id TEXT,
            details_json TEXT NOT NULL DEFAULT '{}'
        )"""
    )


@migration
def m003_relay(conn: sqlite3.Connection) -> None:
    # Bindings created from chat (`/bind`); those declared in the project list stay there.
    conn.execute(
        """CREATE TABLE bindings (
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            thread_id TEXT NOT NULL DEFAULT '',
            builder TEXT NOT NULL,
            trigger_json TEXT NOT NULL DEFAULT '{}',
            created_by TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (platform, chat_id, thread_id)
        )"""
    )
    # A notification is keyed by what caused it, so a restart never sends it twice.
    conn.execute(
        """CREATE TABLE deliveries (
            notification_key TEXT PRIMARY KEY,
            session_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            error TEXT,
            at TEXT NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE builder_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            builder TEXT NOT NULL,
            session_id TEXT NOT NULL,
            at TEXT NOT NULL,
            type TEXT NOT NULL,
            event_json TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX builder_events_builder ON builder_events (builder, id)")


@migration
def m004_pairing(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE pairing_codes (
            code TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            display_name TEXT,
            state TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE paired_users (
            platform TEXT NOT NULL,
            user_id TEXT NOT NULL,
            approved_at TEXT NOT NULL,
            PRIMARY KEY (platform, user_id)
        )"""
    )


@migration
def m005_approval_context(conn: sqlite3.Connection) -> None:
    # Where a card was shown (to answer there), the chat message that asked for it, and the
    # batch of tool calls it came from (one model response may ask for several approvals).
    conn.execute("ALTER TABLE approvals ADD COLUMN chat_json TEXT NOT NULL DEFAULT '{}'")
    conn.execute("ALTER TABLE approvals ADD COLUMN request_message_id TEXT")
    conn.execute("ALTER TABLE approvals ADD COLUMN batch_id TEXT")


@migration
def m006_approval_workspace(conn: sqlite3.Connection) -> None:
    # An approval applies to the workspace it was made in, never to another one.
    conn.execute("ALTER TABLE approvals ADD COLUMN workspace TEXT")


@migration
def m007_approval_approver_chat(conn: sqlite3.Connection) -> None:
    # A card raised in another agent's chat (MCP, A2A) is shown to, and decided in, the human
    # approver's own chat; NULL when that is the chat the card was raised in.
    conn.execute("ALTER TABLE approvals ADD COLUMN approver_chat_json TEXT")


@migration
def m008_deliveries_per_chat(conn: sqlite3.Connection) -> None:
    # A builder may be bound to several chats: a notification is delivered once per chat, and
    # one that could not be delivered keeps its text until that chat has been told it missed it.
    conn.execute(
        """CREATE TABLE deliveries_per_chat (
            notification_key TEXT NOT NULL,
            chat_key TEXT NOT NULL,
            session_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            error TEXT,
            text TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL,
            reported_at TEXT,
            PRIMARY KEY (notification_key, chat_key)
        )"""
    )
    # earlier rows were one per notification, for every chat bound at the time: chat_key '*'
    conn.execute(
        "INSERT INTO deliveries_per_chat "
        "(notification_key, chat_key, session_id, kind, state, error, at) "
        "SELECT notification_key, '*', session_id, kind, state, error, at FROM deliveries"
    )
    conn.execute("DROP TABLE deliveries")
    conn.execute("ALTER TABLE deliveries_per_chat RENAME TO deliveries")


@migration
def m009_chat_moves(conn: sqlite3.Connection) -> None:
    # A Telegram group upgraded to a supergroup gets a new id. Stored bindings are rewritten;
    # a project list's binding is never edited for the user, so its move is recorded here.
    conn.execute(
        """CREATE TABLE chat_moves (
            platform TEXT NOT NULL,
            old_chat_id TEXT NOT NULL,
            new_chat_id TEXT NOT NULL,
            moved_at TEXT NOT NULL,
            PRIMARY KEY (platform, old_chat_id)
        )"""
    )


@migration
def m010_query_indexes(conn: sqlite3.Connection) -> None:
    # One index per query path, so a store after months of use answers as fast as a new one:
    # pending cards by state and expiry (sweep, yes/no, /approvals), by principal, by tool call;
    # the newest cards; a builder's relayed exchanges; a chat's failed deliveries; a card's audit.
    conn.execute("CREATE INDEX approvals_state_expiry ON approvals (state, expires_at)")
    conn.execute("CREATE INDEX approvals_principal_state ON approvals (principal, state)")
    conn.execute("CREATE INDEX approvals_tool_call ON approvals (tool_call_id)")
    conn.execute("CREATE INDEX approvals_created ON approvals (created_at)")
    conn.execute("CREATE INDEX builder_events_exchanges ON builder_events (builder, type, id)")
    conn.execute("CREATE INDEX deliveries_chat_state ON deliveries (chat_key, state)")
    conn.execute("CREATE INDEX audit_log_approval ON audit_log (approval_id)")


@migration
def m011_builder_reports(conn: sqlite3.Connection) -> None:
    # A builder the assistant spoke to (an approved message) reports to that principal's DM
    # while no chat is bound to it; one row per builder, replaced by the latest message.
    conn.execute(
        """CREATE TABLE builder_reports (
            builder TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL
        )"""
    )


@migration
def m012_builder_spend(conn: sqlite3.Connection) -> None:
    # One row per OpenCode assistant message at its latest cost and tokens: OpenCode repeats a
    # message as it grows, and a replay after a reconnect must replace, never add.
    conn.execute(
        """CREATE TABLE builder_spend (
            message_id TEXT PRIMARY KEY,
            builder TEXT NOT NULL,
            session_id TEXT NOT NULL,
            turn_id TEXT,
            cost REAL NOT NULL DEFAULT 0,
            input INTEGER NOT NULL DEFAULT 0,
            output INTEGER NOT NULL DEFAULT 0,
            reasoning INTEGER NOT NULL DEFAULT 0,
            cache_read INTEGER NOT NULL DEFAULT 0,
            cache_write INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX builder_spend_builder ON builder_spend (builder)")
    conn.execute("CREATE INDEX builder_spend_turn ON builder_spend (turn_id)")
    # a turn is the relay's busy → idle span of a session; the newest row is the current one
    conn.execute(
        """CREATE TABLE builder_turns (
            turn_id TEXT PRIMARY KEY,
            builder TEXT NOT NULL,
            session_id TEXT NOT NULL,
            started_at TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX builder_turns_session ON builder_turns (session_id)")
    # the principal's approved budget per builder; budget_usd NULL: lifted (no limit). Who
    # approved it, and when, is in the audit log
    conn.execute(
        """CREATE TABLE builder_budgets (
            builder TEXT PRIMARY KEY,
            budget_usd REAL,
            set_at TEXT NOT NULL
        )"""
    )


@migration
def m013_forum_topics(conn: sqlite3.Connection) -> None:
    # The Telegram forum topic Foreman made for a builder, so a restart never makes a second
    # one. `state`: open (the builder talks there), group (no topic could be made: it talks in
    # the group itself) or closed (the builder is gone). One live row per builder; a builder
    # made again under the same name after its topic closed gets a new one.
    conn.execute(
        """CREATE TABLE forum_topics (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            builder TEXT NOT NULL,
            project_id TEXT NOT NULL,
            platform TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            thread_id TEXT,
            name TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            created_at TEXT NOT NULL,
            greeted_at TEXT,
            summary_sent_at TEXT,
            closed_at TEXT
        )"""
    )
    conn.execute(
        "CREATE UNIQUE INDEX forum_topics_live ON forum_topics (builder) WHERE state != 'closed'"
    )

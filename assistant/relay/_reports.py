"""Builders that report to a principal's DM: the assistant spoke to them and no chat is bound.

An approved `message_builder` goes out through `tell_builder`, which records first where the
builder reports, then prompts its session. From then on the relay delivers that builder's
notifications to the principal's DM, each prefixed with the builder's name, for as long as no
chat is bound to it (a bound chat always wins: it is where the builder's traffic lives).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from assistant.messages import ChatRef, Outbound
from assistant.relay._journal import append_history_rows
from assistant.store import Store
from tools.opencode import OpenCodeClient

_REPORT_COLUMNS = "SELECT builder, platform, chat_id FROM builder_reports"


@dataclass(frozen=True)
class Report:
    """A builder with no bound chat whose notifications go to a principal's direct chat."""

    builder: str
    chat: ChatRef


def save_report(store: Store, builder: str, chat: ChatRef, created_by: str) -> None:
    """From now on `builder` reports to `chat` (a DM) while no chat is bound to it."""
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO builder_reports "
            "(builder, platform, chat_id, created_by, created_at) VALUES (?, ?, ?, ?, ?)",
            (builder, chat.platform, chat.chat_id, created_by, datetime.now(UTC).isoformat()),
        )


def forget_removed(store: Store, exists: Callable[[str], bool]) -> None:
    """Builders no longer on disk stop reporting: one made again under the same name later has
    not been spoken to."""
    gone = [(builder,) for builder, _, _ in report_rows(store) if not exists(builder)]
    if gone:
        with store.transaction() as conn:
            conn.executemany("DELETE FROM builder_reports WHERE builder = ?", gone)


def report_rows(store: Store) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in store.connection.execute(_REPORT_COLUMNS).fetchall()]  # type: ignore[misc]


def reports_from_rows(rows: Sequence[tuple[str, str, str]]) -> list[Report]:
    return [Report(b, ChatRef(platform, chat_id)) for b, platform, chat_id in rows]  # type: ignore[arg-type]


def stored_reports(store: Store) -> list[Report]:
    return reports_from_rows(report_rows(store))


def reported(builder: str, message: Outbound) -> Outbound:
    """A notification as a DM shows it: the builder's name first, and no buttons, since a
    press in a DM reaches the assistant, not the relay."""
    text = f"{builder}: {message.text}"
    if message.choices:
        text += f"\nAnswer it from a chat bound to the builder (/bind {builder} in a group)."
    return replace(message, text=text, choices=())


async def tell_builder(
    store: Store,
    opencode: OpenCodeClient,
    directory: str,
    builder: str,
    text: str,
    *,
    reports_to: ChatRef,
    sent_by: str,
    permission: Sequence[dict[str, str]] | None = None,
) -> str:
    """Send `text` to the builder's session (its newest root session, made if none) and have
    it report to `reports_to` while unbound; returns the session id."""
    roots = [s for s in await opencode.list_sessions(directory) if s.parent_id is None]
    if roots:
        session_id = roots[0].id
    else:
        session = await opencode.create_session(directory, title=builder, permission=permission)
        session_id = session.id
    # recorded before the prompt: the turn's first event may reach a relay before the answer
    save_report(store, builder, reports_to, created_by=sent_by)
    await opencode.prompt_async(session_id, text)
    row = (builder, session_id, "relay.forwarded", {"text": text, "from": sent_by})
    append_history_rows(store, [row])
    return session_id

"""What the relay remembers in the store: delivered notifications and per-builder history."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assistant.messages import file_size
from assistant.relay._notice import Notification
from assistant.store import Store


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


ANY_CHAT = "*"  # a delivery recorded before deliveries were kept per chat


def delivery_states(store: Store, key: str) -> dict[str, str]:
    """Chat key -> `sent` or `failed`, for every chat this notification was tried in."""
    rows = store.connection.execute(
        "SELECT chat_key, state FROM deliveries WHERE notification_key = ?", (key,)
    ).fetchall()
    return {row["chat_key"]: row["state"] for row in rows}


def record_delivery(
    store: Store,
    notification: Notification,
    chat_key: str,
    state: str,
    error: str | None = None,
    text: str = "",
) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO deliveries (notification_key, chat_key, session_id, kind, "
            "state, error, text, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                notification.key,
                chat_key,
                notification.session_id,
                notification.kind,
                state,
                error,
                text,
                _now(),
            ),
        )


def failed_deliveries(store: Store, chat_key: str | None = None) -> list[dict[str, Any]]:
    """Notifications that could not be delivered (to one chat, or anywhere), oldest first."""
    query = (
        "SELECT notification_key, chat_key, session_id, kind, error, text, at, reported_at "
        "FROM deliveries WHERE state = 'failed'"
    )
    args: tuple[str, ...] = ()
    if chat_key is not None:
        query += " AND chat_key = ?"
        args = (chat_key,)
    rows = store.connection.execute(query + " ORDER BY at", args).fetchall()
    return [dict(r) for r in rows]


def unreported_failures(store: Store, chat_key: str) -> list[dict[str, Any]]:
    """What a chat missed and has not been told about yet."""
    return [f for f in failed_deliveries(store, chat_key) if f["reported_at"] is None]


def mark_reported(store: Store, chat_key: str, keys: list[str]) -> None:
    with store.transaction() as conn:
        conn.executemany(
            "UPDATE deliveries SET reported_at = ? WHERE notification_key = ? AND chat_key = ?",
            [(_now(), key, chat_key) for key in keys],
        )


HistoryRow = tuple[str, str, str, dict[str, Any]]  # builder, session id, type, payload


def append_history_rows(store: Store, rows: list[HistoryRow]) -> None:
    """Many history rows in one transaction (one fsync, not one per event)."""
    at = _now()
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO builder_events (builder, session_id, at, type, event_json) "
            "VALUES (?, ?, ?, ?, ?)",
            [(b, sid, at, t, json.dumps(p, ensure_ascii=False)) for b, sid, t, p in rows],
        )


# `data:<type>/<subtype>[;param…],<data>`: what OpenCode's file parts carry a file's bytes in
_DATA_URL = re.compile(r"data:[a-z]+/[-\w.+]+(?:;[-\w.+]+(?:=[-\w.+]+)?)*,")


def without_file_data(value: Any) -> Any:
    """The payload with every data URL (a file part's bytes, base64) cut to its type and size.

    A photo or document sent to a builder lives in its OpenCode session only; the history
    keeps that it was sent, never a copy of the file.
    """
    if isinstance(value, str):
        if _DATA_URL.match(value):
            head, _, data = value.partition(",")
            size = len(data) * 3 // 4 if head.endswith(";base64") else len(data)
            return f"{head},… ({size} bytes, kept in the session only)"
        return value
    if isinstance(value, dict):
        return {key: without_file_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_file_data(item) for item in value]
    return value


class HistoryWriter:
    """Queues history rows; a background task stores them in batches, off the event loop, so
    neither a chat message nor an event waits for a disk sync."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._rows: list[HistoryRow] = []
        self._writer: asyncio.Task[None] | None = None

    def record(self, builder: str, session_id: str, type_: str, payload: dict[str, Any]) -> None:
        self._rows.append((builder, session_id, type_, without_file_data(payload)))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._rows:
            batch, self._rows = self._rows, []
            await asyncio.to_thread(append_history_rows, self.store, batch)

    async def flush(self) -> None:
        """Wait until every queued row is stored."""
        while self._rows or (self._writer and not self._writer.done()):
            if self._writer is None or self._writer.done():
                self._writer = asyncio.get_running_loop().create_task(self._write())
            await asyncio.shield(self._writer)


@dataclass(frozen=True)
class Exchange:
    """One relayed exchange: what the chat sent the builder, and what came back."""

    at: str
    session_id: str
    prompt: str
    replies: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "session_id": self.session_id,
            "prompt": self.prompt,
            "replies": list(self.replies),
        }


def exchanges(store: Store, builder: str, last: int | None = None) -> list[Exchange]:
    """The builder's relayed exchanges, oldest first (the newest `last` when given)."""
    conn = store.connection
    first_id = 0
    if last:
        # the newest `last` exchanges start at the `last`-th newest forwarded message: read
        # from there on only, not the builder's whole journal
        start = conn.execute(
            "SELECT id FROM builder_events WHERE builder = ? AND type = 'relay.forwarded' "
            "ORDER BY id DESC LIMIT 1 OFFSET ?",
            (builder, last - 1),
        ).fetchone()
        first_id = start["id"] if start else 0
    rows = conn.execute(
        "SELECT session_id, at, type, event_json FROM builder_events "
        "WHERE builder = ? AND type IN ('relay.forwarded', 'relay.notification') AND id >= ? "
        "ORDER BY id",
        (builder, first_id),
    ).fetchall()
    out: list[Exchange] = []
    current: dict[str, Any] | None = None
    for row in rows:
        payload = json.loads(row["event_json"])
        if row["type"] == "relay.forwarded":
            if current:
                out.append(_exchange(current))
            current = {"at": row["at"], "sid": row["session_id"], "prompt": payload["text"]}
            current["replies"] = []
        else:
            if current is None:
                current = {"at": row["at"], "sid": row["session_id"], "prompt": "", "replies": []}
            current["replies"].append(_reply_text(payload))
    if current:
        out.append(_exchange(current))
    return out[-last:] if last else out


def _reply_text(payload: dict[str, Any]) -> str:
    """A notification as the history shows it: its text, and the files it carried by name."""
    files = payload.get("files") or []
    lines = [f"📎 {f['name']} ({file_size(f['bytes'])})" for f in files]
    return "\n".join([payload["text"], *lines])


def _exchange(data: dict[str, Any]) -> Exchange:
    return Exchange(data["at"], data["sid"], data["prompt"], tuple(data["replies"]))


def format_exchanges(found: Iterable[Exchange]) -> str:
    """Exchanges as chat or terminal text: `» prompt` then the replies, indented."""
    lines: list[str] = []
    for exchange in found:
        lines.append(f"» {exchange.prompt}" if exchange.prompt else "» (no message)")
        lines += ["  " + reply.replace("\n", "\n  ") for reply in exchange.replies]
    return "\n".join(lines)

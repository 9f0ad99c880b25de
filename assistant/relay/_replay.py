"""Replay a recorded OpenCode stream through the relay's classifier."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from assistant.relay._classify import IDLE, SessionState, classify
from assistant.relay._notice import Notification
from tools.opencode import Event, parse_event_data


def read_stream(path: Path) -> Iterator[Event]:
    """Events of a capture: `/event` SSE text (`data: …` lines) or `/global/event` JSON lines.

    Comment lines (`#`, `:`) and blank lines are skipped; `sync` and heartbeats are dropped.
    """
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            line = line.strip()
            if not line or line.startswith(("#", ":")):
                continue
            if line.startswith("data:"):
                line = line[5:].strip()
            elif line.startswith(("event:", "id:", "retry:")):
                continue  # SSE fields OpenCode does not send and the relay does not need
            event = parse_event_data(line)
            if event is None and not _is_dropped(line):
                raise ValueError(f"{path}:{number}: not an OpenCode event: {line[:80]}")
            if event is not None:
                yield event


def _is_dropped(line: str) -> bool:
    # parse_event_data returns None both for dropped events and for junk; tell them apart
    try:
        raw = json.loads(line)
    except ValueError:
        return False
    return isinstance(raw, dict) and ("payload" in raw or "type" in raw)


def replay(events: Iterable[Event], *, retry_limit: int | None = None) -> list[Notification]:
    """Every notification the relay would send for these events, in order."""
    states: dict[str, SessionState] = {}
    out: list[Notification] = []
    delivered: set[str] = set()  # as the delivery table does: one notification per cause
    for event in events:
        sid = event.session_id
        if sid is None:
            continue
        state, notification = classify(states.get(sid, IDLE), event, retry_limit=retry_limit)
        states[sid] = state
        if notification is not None and notification.key not in delivered:
            delivered.add(notification.key)
            out.append(notification)
    return out

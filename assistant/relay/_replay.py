"""Replay a recorded OpenCode stream through the relay's classifier."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from assistant.relay._classify import IDLE, SessionState, classify
from assistant.relay._notice import Notification
from tools.opencode import Event, MalformedEvent, parse_event_data


def read_stream(path: Path, skipped: list[str] | None = None) -> Iterator[Event]:
    """Events of a capture: `/event` SSE text (`data: …` lines) or `/global/event` JSON lines.

    Comment lines (`#`, `:`) and blank lines are skipped; `sync` and heartbeats are dropped;
    an event of the wrong shape is skipped as the live relay skips it (its line and reason
    appended to `skipped`). A line that is not JSON at all is refused: not a capture.
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
            try:
                event = parse_event_data(line)
            except MalformedEvent as exc:
                if exc.not_json:
                    raise ValueError(
                        f"{path}:{number}: not an OpenCode event: {line[:80]}"
                    ) from None
                if skipped is not None:
                    skipped.append(f"line {number}: {exc}")
                continue
            if event is not None:
                yield event


def replay(
    events: Iterable[Event], *, retry_limit: int | None = None, skipped: list[str] | None = None
) -> list[Notification]:
    """Every notification the relay would send for these events, in order.

    An event the classifier finds malformed is skipped (its reason appended to `skipped`).
    """
    states: dict[str, SessionState] = {}
    out: list[Notification] = []
    delivered: set[str] = set()  # as the delivery table does: one notification per cause
    for event in events:
        sid = event.session_id
        if sid is None:
            continue
        try:
            state, notification = classify(states.get(sid, IDLE), event, retry_limit=retry_limit)
        except MalformedEvent as exc:
            if skipped is not None:
                skipped.append(str(exc))
            continue
        states[sid] = state
        if notification is not None and notification.key not in delivered:
            delivered.add(notification.key)
            out.append(notification)
    return out

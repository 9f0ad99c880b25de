from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

import httpx
from httpx_sse import aconnect_sse

from tools.opencode._errors import OpenCodeError, Unauthorized
from tools.opencode._models import Event, Resync


class SnapshotSource(Protocol):
    """What the stream needs from the client: the state after a (re)connect, and a note of
    where each session lives (the OpenCode client is one; the stream never imports it)."""

    async def snapshot(
        self, directories: Iterable[str | None] = (None,), reconnect: bool = False
    ) -> Resync: ...

    def remember_directory(self, object_id: str, directory: str | None) -> None: ...


log = logging.getLogger(__name__)

DROPPED = frozenset({"sync", "server.heartbeat", "server.connected"})
# Heartbeats come every 10 s: three missed ones mean a half-open connection.
READ_TIMEOUT = 35.0


def parse_event_data(data: str, directory: str | None = None) -> Event | None:
    """One `data:` payload of `/event` or `/global/event` → an Event, or None when dropped."""
    try:
        raw = json.loads(data)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    if "payload" in raw:
        directory = raw.get("directory")
        raw = raw["payload"]
        if not isinstance(raw, dict):
            return None
    if raw.get("type") in DROPPED:
        return None
    return Event.from_payload(raw, directory)


class EventStream:
    def __init__(
        self,
        client: SnapshotSource,
        http: httpx.AsyncClient,
        directory: str | None,
        resync_directories: Iterable[str] | None,
        max_backoff: float,
    ) -> None:
        self.client = client
        self.http = http
        self.directory = directory
        self.resync_directories = resync_directories
        self.max_backoff = max_backoff

    def _note_directories(self, event: Event) -> None:
        if event.type in ("permission.asked", "question.asked", "session.created"):
            where = event.directory
            self.client.remember_directory(event.properties.get("id", ""), where)
            self.client.remember_directory(event.session_id or "", where)

    def _snapshot_directories(self) -> list[str | None]:
        if self.directory is not None:
            return [self.directory]
        dirs: list[str | None] = list(self.resync_directories or ())
        return dirs or [None]

    async def iterate(self) -> AsyncIterator[Event | Resync]:
        path = "/event" if self.directory else "/global/event"
        params = {"directory": self.directory} if self.directory else {}
        timeout = httpx.Timeout(30.0, read=READ_TIMEOUT)
        failures = 0
        connects = 0
        while True:
            try:
                async with aconnect_sse(
                    self.http, "GET", path, params=params, timeout=timeout
                ) as source:
                    if source.response.status_code == 401:
                        raise Unauthorized(f"GET {path}: 401 wrong or missing server password")
                    source.response.raise_for_status()
                    snapshot = await self.client.snapshot(
                        self._snapshot_directories(), reconnect=connects > 0
                    )
                    connects += 1
                    failures = 0
                    yield snapshot
                    async for sse in source.aiter_sse():
                        event = parse_event_data(sse.data, self.directory)
                        if event is not None:
                            self._note_directories(event)
                            yield event
            except Unauthorized:
                raise
            except (httpx.HTTPError, OpenCodeError) as exc:
                failures += 1
                log.info("event stream %s lost (%r); reconnecting", path, exc)
            # full jitter on an exponential backoff, so many relays do not reconnect in step
            delay = min(self.max_backoff, 0.2 * 2 ** min(failures, 10))
            await asyncio.sleep(random.uniform(delay / 2, delay))

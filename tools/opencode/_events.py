from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable
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


class MalformedEvent(ValueError):
    """A payload that is not an OpenCode event of the shape the relay reads."""

    def __init__(self, reason: str, *, not_json: bool = False) -> None:
        super().__init__(reason)
        self.not_json = not_json  # not JSON at all (as opposed to JSON of the wrong shape)


# properties whose shape the relay relies on before it classifies anything
_DICT_PROPERTIES = ("part", "info", "status")


def parse_event_data(data: str, directory: str | None = None) -> Event | None:
    """One `data:` payload of `/event` or `/global/event` → an Event, or None when dropped.

    Raises MalformedEvent for anything else (not JSON, nested too deep, wrong shapes), so a
    consumer can skip it and count it instead of failing further on.
    """
    try:
        raw = json.loads(data)
    except RecursionError:
        raise MalformedEvent("JSON nested too deep") from None
    except ValueError:
        raise MalformedEvent("not JSON", not_json=True) from None
    if not isinstance(raw, dict):
        raise MalformedEvent(f"a JSON {type(raw).__name__}, not an object")
    if "payload" in raw:
        directory = raw.get("directory")
        raw = raw["payload"]
        if not isinstance(raw, dict):
            raise MalformedEvent("payload is not an object")
        if directory is not None and not isinstance(directory, str):
            raise MalformedEvent("directory is not a string")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise MalformedEvent("type is not a string")
    if kind in DROPPED:
        return None
    properties = raw.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise MalformedEvent(f"{kind}: properties is not an object")
    if raw.get("id") is not None and not isinstance(raw.get("id"), str):
        raise MalformedEvent(f"{kind}: id is not a string")
    props = properties or {}
    if props.get("sessionID") is not None and not isinstance(props["sessionID"], str):
        raise MalformedEvent(f"{kind}: sessionID is not a string")
    for key in _DICT_PROPERTIES:
        if props.get(key) is not None and not isinstance(props[key], dict):
            raise MalformedEvent(f"{kind}: {key} is not an object")
    for key in ("part", "info"):
        nested = props.get(key) or {}
        if nested.get("sessionID") is not None and not isinstance(nested["sessionID"], str):
            raise MalformedEvent(f"{kind}: {key}.sessionID is not a string")
    return Event.from_payload(raw, directory)


class EventStream:
    def __init__(
        self,
        client: SnapshotSource,
        http: httpx.AsyncClient,
        directory: str | None,
        resync_directories: Iterable[str] | None,
        max_backoff: float,
        on_malformed: Callable[[str], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.on_lost = on_lost
        self.http = http
        self.directory = directory
        self.resync_directories = resync_directories
        self.max_backoff = max_backoff
        self.on_malformed = on_malformed
        self.malformed = 0  # events skipped because of their shape

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

    def _skip(self, reason: str) -> None:
        """One malformed event: counted, one log line (by the consumer when it listens)."""
        self.malformed += 1
        if self.on_malformed is not None:
            self.on_malformed(reason)
        else:
            log.warning("opencode: skipped a malformed event: %s", reason)

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
                        try:
                            event = parse_event_data(sse.data, self.directory)
                        except MalformedEvent as exc:
                            self._skip(str(exc))
                            continue
                        if event is not None:
                            self._note_directories(event)
                            yield event
            except Unauthorized:
                raise
            except (httpx.HTTPError, OpenCodeError) as exc:
                failures += 1
                log.info("event stream %s lost (%r); reconnecting", path, exc)
                if self.on_lost is not None:
                    self.on_lost()
            # full jitter on an exponential backoff, so many relays do not reconnect in step
            delay = min(self.max_backoff, 0.2 * 2 ** min(failures, 10))
            await asyncio.sleep(random.uniform(delay / 2, delay))

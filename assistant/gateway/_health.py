"""The running gateway's health, written to the state directory for `foreman service status`.

`foreman serve` rewrites `health.json` every few seconds (atomically: a reader never sees half
a file); its age tells a reader whether the gateway still runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from assistant.gateway._config import GatewayConfig
from assistant.gateway._gateway import Gateway
from assistant.store import Store
from tools.opencode import ManagedServer

log = logging.getLogger("foreman.gateway")

HEALTH_FILE = "health.json"
INTERVAL_SECONDS = 5.0


@dataclass(frozen=True)
class ChannelState:
    platform: str
    state: str
    detail: str
    last_inbound: str | None  # ISO 8601, UTC
    down_since: str | None = None  # ISO 8601, UTC: not reaching its users since then


@dataclass(frozen=True)
class Health:
    written_at: str  # ISO 8601, UTC
    started_at: str
    pid: int
    running: bool
    channels: list[ChannelState] = field(default_factory=list)
    assistant: bool = False
    relay: bool = False
    opencode_url: str | None = None
    opencode: str = "not configured"  # reachable | unreachable | refused (password) | …
    pending_cards: int = 0
    interval: float = INTERVAL_SECONDS
    # chats the platform refuses for good (a user who never started the bot): "key: why"
    unreachable: list[str] = field(default_factory=list)
    relay_malformed_events: int = 0  # OpenCode events the relay skipped for their shape
    # the `opencode serve` the gateway runs itself (none when a URL is configured)
    opencode_managed: bool = False
    opencode_state: str | None = None  # running | restarting | failed | …
    opencode_pid: int | None = None
    opencode_restarts: int = 0
    opencode_log: str | None = None

    def age(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return (now - datetime.fromisoformat(self.written_at)).total_seconds()

    def fresh(self, now: datetime | None = None) -> bool:
        """Written recently enough that the gateway that wrote it is still running."""
        return self.running and self.age(now) <= 3 * self.interval


def health_path(state_dir: Path) -> Path:
    return state_dir / HEALTH_FILE


def read_health(state_dir: Path) -> Health | None:
    """The last health written in `state_dir`; None when there is none (or it is unreadable)."""
    try:
        data = json.loads(health_path(state_dir).read_text(encoding="utf-8"))
        channels = [ChannelState(**c) for c in data.pop("channels", [])]
        return Health(channels=channels, **data)
    except (OSError, ValueError, TypeError):
        return None


def _write(path: Path, health: Health) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".health.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(health), handle, indent=2)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class HealthWriter:
    """A background job of the gateway: snapshot its state into health.json, again and again."""

    def __init__(
        self,
        gateway: Gateway,
        store: Store,
        config: GatewayConfig,
        interval: float = INTERVAL_SECONDS,
        server: ManagedServer | None = None,
    ) -> None:
        self.gateway = gateway
        self.server = server
        self.store = store
        self.config = config
        self.interval = interval
        self.path = health_path(store.path.parent)
        self.started_at = _now()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=min(3.0, self.interval)) as http:
            try:
                while True:
                    health = await self.snapshot(http, running=True)
                    await asyncio.to_thread(_write, self.path, health)
                    await asyncio.sleep(self.interval)
            finally:
                # the gateway is stopping: say so, so status does not wait for the file to age
                try:
                    _write(self.path, self._base(running=False))
                except Exception:
                    log.exception("writing the final health failed")

    def _base(self, *, running: bool) -> Health:
        channels = []
        for channel in self.gateway.channels.values():
            state = channel.health()
            seen = state.last_inbound
            if seen is not None and seen.tzinfo is None:
                seen = seen.replace(tzinfo=UTC)
            down = self.gateway.down_since.get(state.platform)
            channels.append(
                ChannelState(
                    state.platform,
                    state.state,
                    state.detail,
                    seen.isoformat() if seen else None,
                    down.isoformat() if down else None,
                )
            )
        return Health(
            written_at=_now(),
            started_at=self.started_at,
            pid=os.getpid(),
            running=running,
            channels=channels,
            assistant=self.gateway.router.assistant is not None,
            relay=self.gateway.relay_runner is not None,
            opencode_url=self.config.opencode.url,
            pending_cards=self._pending_cards(),
            # a runner that counts nothing (a test's, an older one) has skipped nothing
            relay_malformed_events=getattr(self.gateway.relay_runner, "malformed_events", 0),
            interval=self.interval,
            unreachable=[f"{key}: {why}" for key, why in self.gateway.unreachable.items()],
        )

    async def snapshot(self, http: httpx.AsyncClient, *, running: bool) -> Health:
        health = self._base(running=running)
        if self.server is not None:
            status = self.server.status()
            health = _replace(
                health,
                opencode_managed=True,
                opencode_state=status.state,
                opencode_pid=status.pid,
                opencode_restarts=status.restarts,
                opencode_log=status.log,
            )
        if self.config.opencode.url:
            health = _replace(health, opencode=await self._probe(http))
        return health

    def _pending_cards(self) -> int:
        from assistant.approvals import ApprovalBook

        try:
            return len(ApprovalBook(self.store).pending())
        except Exception:
            log.exception("counting pending cards failed")
            return -1

    async def _probe(self, http: httpx.AsyncClient) -> str:
        opencode = self.config.opencode
        auth = (opencode.username, opencode.password) if opencode.password else None
        try:
            response = await http.get(f"{opencode.url}/global/health", auth=auth)
        except httpx.HTTPError:
            return "unreachable"
        if response.status_code == 401:
            return "refused (check [opencode] password)"
        return "reachable" if response.status_code == 200 else f"HTTP {response.status_code}"


def _replace(health: Health, **changes: Any) -> Health:
    return Health(**{**asdict(health), "channels": health.channels, **changes})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

"""The running gateway: channels in, router in the middle, replies and relay notifications out."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from assistant.channels import Channel, Undeliverable
from assistant.gateway._router import Router
from assistant.messages import ChatRef, Inbound, Outbound

log = logging.getLogger("foreman.gateway")

FAILED = "Sorry, that failed on my side; it is in the log. Nothing was changed."
# a channel in one of these states reaches its users; any other state is an outage
UP_STATES = frozenset({"polling", "webhook", "connected", "stopped"})
DEFAULT_ALARM_MINUTES = 10.0


def alarm_minutes_from_env() -> float:
    """`FOREMAN_CHANNEL_ALARM_MINUTES`: how long a channel may be down before anyone is told."""
    value = os.environ.get("FOREMAN_CHANNEL_ALARM_MINUTES", "")
    try:
        minutes = float(value) if value else DEFAULT_ALARM_MINUTES
    except ValueError:
        raise ValueError(
            f"FOREMAN_CHANNEL_ALARM_MINUTES must be a number of minutes, got {value!r}"
        ) from None
    if minutes < 0:
        raise ValueError(f"FOREMAN_CHANNEL_ALARM_MINUTES must not be negative, got {value!r}")
    return minutes


def _minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes else f"{seconds:.0f} s"


class DeliveryError(RuntimeError):
    """A message could not be handed to any channel; the sender records and reports it."""


class RelayRunner(Protocol):
    """The relay's event loop: consumes builder events, calls `send` for each notification."""

    async def run(self, send: Callable[[Outbound], Awaitable[object]]) -> None: ...


class Gateway:
    """One asyncio process: every configured channel plus the relay's event stream."""

    def __init__(
        self,
        router: Router,
        channels: Sequence[Channel],
        *,
        relay_runner: RelayRunner | None = None,
        extras: Sequence[str] = (),
        closers: Sequence[Callable[[], Awaitable[object]]] = (),
        background: Sequence[Callable[[], Awaitable[None]]] = (),
        prepare: Sequence[Callable[[], Awaitable[object]]] = (),
        attention_seconds: float = 5.0,
        alarm_minutes: float | None = None,
    ) -> None:
        self.router = router
        if router.say is None:
            router.say = self.send
        self.channels = {channel.platform: channel for channel in channels}
        self.relay_runner = relay_runner
        self.extras = tuple(extras)  # facts for the health line (state dir, pairing, …)
        self.closers = tuple(closers)  # e.g. the OpenCode client's aclose, run after stop
        self.background = tuple(background)  # loops that run while serving (group creation)
        # what must be up before any chat is served (the OpenCode server Foreman runs itself)
        self.prepare = tuple(prepare)
        self.attention_seconds = attention_seconds
        self._relay_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.undelivered: list[tuple[Outbound, str]] = []
        # chats the platform refuses for good (403): chat key -> why, until one gets through
        self.unreachable: dict[str, str] = {}
        minutes = alarm_minutes if alarm_minutes is not None else alarm_minutes_from_env()
        self.alarm_seconds = minutes * 60
        self.down_since: dict[str, datetime] = {}  # platform -> when it went down
        self._alarmed: set[str] = set()  # platforms whose outage the principals were told

    async def on_inbound(self, message: Inbound) -> list[Outbound]:
        """The router's answer; a crash is logged and, for a principal, reported (never silent)."""
        try:
            return await self.router.handle(message)
        except Exception:
            log.exception("handling %s from %s failed", message.chat.key, message.sender.key)
            if self.router.is_principal(message):
                return [Outbound(chat=message.chat, text=FAILED, kind="error")]
            return []

    async def send(self, message: Outbound) -> str | None:
        """Deliver a notification on its platform; a failure is logged and kept, not lost."""
        channel = self.channels.get(message.chat.platform)
        if channel is None:
            reason = f"no {message.chat.platform} channel is configured"
            log.error("cannot deliver to %s: %s", message.chat.key, reason)
            self.undelivered.append((message, reason))
            # raised, not returned: the relay must record it as failed (contract 4)
            raise DeliveryError(f"cannot deliver to {message.chat.key}: {reason}")
        try:
            sent = await channel.send(message)
        except Undeliverable as exc:
            log.error("cannot deliver to %s: %s", message.chat.key, exc)
            self.undelivered.append((message, str(exc)))
            self.unreachable[message.chat.key] = str(exc)
            raise
        except Exception as exc:
            log.exception("delivering to %s failed", message.chat.key)
            self.undelivered.append((message, str(exc)))
            raise
        self.unreachable.pop(message.chat.key, None)
        return sent

    def live_edits(self, chat: ChatRef) -> bool:
        """Whether the chat's channel edits a message in place silently and often (Telegram),
        so the relay may keep a running turn's status in one message there."""
        channel = self.channels.get(chat.platform)
        return bool(getattr(channel, "live_edits", False))

    def health_line(self) -> str:
        parts = []
        for platform, channel in self.channels.items():
            since = self.down_since.get(platform)
            down = f" down since {since:%H:%M} UTC" if since else ""
            parts.append(channel.health().summary() + down)
        if not parts:
            parts.append("no chat channel configured")
        parts.append(f"assistant {'on' if self.router.assistant is not None else 'off'}")
        parts.append(f"relay {'on' if self.relay_runner is not None else 'off'}")
        parts.extend(self.extras)
        return "foreman serve: " + " · ".join(parts)

    async def start(self) -> None:
        for job in self.prepare:
            await job()
        started: list[Channel] = []
        try:
            for channel in self.channels.values():
                await channel.start(self.on_inbound)
                started.append(channel)
        except BaseException:
            for channel in reversed(started):
                await channel.stop()
            raise
        if self.relay_runner is not None:
            self._relay_task = asyncio.create_task(self._run_relay(), name="relay-events")
        jobs = (*self.background, self._pass_on_attention)
        self._tasks = [asyncio.create_task(job()) for job in jobs]

    async def _pass_on_attention(self) -> None:
        """A channel that cannot go on (WhatsApp logged out, not linked) is told to each
        principal on the other channels, once per problem."""
        told: dict[str, str] = {}
        while True:
            for platform, channel in self.channels.items():
                attention = channel.health().attention
                if attention and told.get(platform) != attention:
                    told[platform] = attention
                    await self._tell_principals(f"⚠️ {platform}: {attention}", but=platform)
                elif not attention:
                    told.pop(platform, None)
            await self.watch_links()
            await asyncio.sleep(self.attention_seconds)

    async def watch_links(self, now: datetime | None = None) -> None:
        """A channel down longer than the alarm is told to the principals on every other
        channel, and again when it is back, with how long it was down."""
        now = now or datetime.now(UTC)
        for platform, channel in self.channels.items():
            state = channel.health().state
            since = self.down_since.get(platform)
            if state not in UP_STATES:
                if since is None:
                    self.down_since[platform] = since = now
                down = (now - since).total_seconds()
                if down >= self.alarm_seconds and platform not in self._alarmed:
                    self._alarmed.add(platform)
                    await self._tell_principals(
                        f"⚠️ {platform} has been {state} for {_minutes(down)} "
                        f"(since {since:%H:%M} UTC): messages there do not reach me.",
                        but=platform,
                    )
            elif since is not None:
                del self.down_since[platform]
                if platform in self._alarmed:
                    self._alarmed.discard(platform)
                    down = (now - since).total_seconds()
                    await self._tell_principals(
                        f"✅ {platform} is back (it was down {_minutes(down)}).", but=platform
                    )

    async def _tell_principals(self, text: str, *, but: str) -> None:
        for platform, channel in self.channels.items():
            if platform == but:
                continue
            for user in sorted(self.router.allow.users.get(platform, ())):
                chat = ChatRef(platform, user)  # type: ignore[arg-type]
                try:
                    await channel.send(Outbound(chat, text, kind="notification"))
                except Exception:
                    log.exception("telling %s about %s failed", chat.key, but)

    async def _run_relay(self) -> None:
        assert self.relay_runner is not None
        try:
            await self.relay_runner.run(self.send)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the relay's event stream stopped")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._relay_task is not None:
            self._relay_task.cancel()
            await asyncio.gather(self._relay_task, return_exceptions=True)
            self._relay_task = None
        for channel in reversed(list(self.channels.values())):
            try:
                await channel.stop()
            except Exception:
                log.exception("stopping %s failed", channel.platform)
        for close in self.closers:
            try:
                await close()
            except Exception:
                log.exception("closing %s failed", close)

    async def run_until_signalled(
        self, stop: asyncio.Event | None = None, announce: Callable[[str], None] = print
    ) -> None:
        """Start, print the health line, and stop cleanly on SIGINT / SIGTERM (or `stop`)."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
                handled.append(sig)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                pass
        try:
            await self.start()
            announce(self.health_line())
            await stop.wait()
            announce("foreman serve: stopping")
        finally:
            await self.stop()
            for sig in handled:
                loop.remove_signal_handler(sig)
        announce("foreman serve: stopped")

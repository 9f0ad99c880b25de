"""The running gateway: channels in, router in the middle, replies and relay notifications out."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from assistant.channels import Channel
from assistant.gateway._router import Router
from assistant.messages import ChatRef, Inbound, Outbound

log = logging.getLogger("foreman.gateway")

FAILED = "Sorry, that failed on my side; it is in the log. Nothing was changed."


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
        attention_seconds: float = 5.0,
    ) -> None:
        self.router = router
        self.channels = {channel.platform: channel for channel in channels}
        self.relay_runner = relay_runner
        self.extras = tuple(extras)  # facts for the health line (state dir, pairing, …)
        self.closers = tuple(closers)  # e.g. the OpenCode client's aclose, run after stop
        self.background = tuple(background)  # loops that run while serving (group creation)
        self.attention_seconds = attention_seconds
        self._relay_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.undelivered: list[tuple[Outbound, str]] = []

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
            return await channel.send(message)
        except Exception as exc:
            log.exception("delivering to %s failed", message.chat.key)
            self.undelivered.append((message, str(exc)))
            raise

    def health_line(self) -> str:
        parts = [channel.health().summary() for channel in self.channels.values()]
        if not parts:
            parts.append("no chat channel configured")
        parts.append(f"assistant {'on' if self.router.assistant is not None else 'off'}")
        parts.append(f"relay {'on' if self.relay_runner is not None else 'off'}")
        parts.extend(self.extras)
        return "foreman serve: " + " · ".join(parts)

    async def start(self) -> None:
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
            await asyncio.sleep(self.attention_seconds)

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

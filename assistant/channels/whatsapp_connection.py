"""Keeping one linked WhatsApp client connected, and knowing when that cannot be done.

whatsmeow reconnects by itself after a drop and finds silent deaths with its keepalive. The
watchdog steps in when that does not bring the connection back within a period (or the
connection call ended, as when the network is down at start): it restarts the client with
backoff, never starting a second connection call while one is still inside Go. A session that
is not linked is never connected (that would start a QR flow nobody sees); a logout, another
program taking over the session or an outdated client stop the connection with a one-line
`attention` for the principal; a temporary ban waits until it expires.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from assistant.channels.whatsapp_session import (
    SessionState,
    linked_note,
    note_linked,
    read_session,
)

log = logging.getLogger("foreman.channels.whatsapp")

BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
STOP_SECONDS = 10.0
Handler = Callable[[Any, Any], Awaitable[None]]


class Connection:
    """The connection of one neonize client: its state, its watchdog, its stopping reasons."""

    def __init__(
        self,
        client: Any,
        *,
        session: Path | None = None,
        watchdog_seconds: float = 30.0,
        backoff: tuple[float, ...] = BACKOFF,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # `client` is a neonize NewAClient (see whatsapp_client.neonize_client)
        self.client = client
        self.session = session  # the session file, read before connecting
        self.watchdog_seconds = watchdog_seconds
        self.backoff = backoff
        self.clock = clock
        self.reconnects = 0
        self.checks = 0  # watchdog rounds completed (each looked at the connection and the ban)
        self.attention = ""  # what the principal must do, when the connection cannot go on
        self.state = "stopped"
        self.halted = False  # logged out, replaced, outdated, not linked: no reconnecting
        # set by stop(): the watchdog ends at its next step whatever it is waiting on. Waits
        # here use asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel
        # that lands as its inner wait finishes, and stop() then waited on the watchdog forever
        self._stopping = False
        self.connected = asyncio.Event()
        self._wake = asyncio.Event()
        self._ended = False  # the Go connection call returned: nothing will reconnect by itself
        self._banned_until: datetime | None = None
        self._connection: asyncio.Future[Any] | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def start(self, handlers: dict[Any, Handler]) -> None:
        """Connect with these event handlers (and the connection's own), unless not linked."""
        from assistant.channels.whatsapp_client import load_neonize

        if self.session is not None:
            session = read_session(self.session)
            if session.state is not SessionState.LINKED:
                described = session.describe()
                unreadable = session.state is SessionState.UNREADABLE
                self._halt(
                    str(session.state), described if unreadable else f"WhatsApp is {described}"
                )
                return
            if not linked_note(self.session).exists() and session.account:
                note_linked(self.session, session.account)
        load_neonize()
        from neonize.aioze import events

        own: dict[Any, Handler] = {
            events.ConnectedEv: self._on_connected,
            events.DisconnectedEv: self._on_disconnected,
            events.KeepAliveTimeoutEv: self._on_keepalive_timeout,
            events.KeepAliveRestoredEv: self._on_keepalive_restored,
            events.LoggedOutEv: self._on_logged_out,
            events.StreamReplacedEv: self._on_stream_replaced,
            events.ClientOutdatedEv: self._on_client_outdated,
            events.TemporaryBanEv: self._on_temporary_ban,
            events.ConnectFailureEv: self._on_connect_failure,
        }
        for event_type, handler in {**own, **handlers}.items():
            self.client.event(event_type)(logged(handler))
        self.state = "connecting"
        self._stopping = False
        await self._connect()
        self._watchdog = asyncio.create_task(self._watch(), name="whatsapp-watchdog")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        if self._connection is not None:
            self._connection = None
            await self._stop_client()
        if not self.halted:
            self.state = "stopped"

    # --- events ---------------------------------------------------------------------------

    async def _on_connected(self, client: Any, event: Any) -> None:
        if self.halted:
            return
        self.state = "connected"
        self._ended = False
        self._banned_until = None
        self.connected.set()
        log.info("whatsapp: connected")

    async def _on_disconnected(self, client: Any, event: Any) -> None:
        if self.halted:
            return
        self.state = "disconnected"
        self.connected.clear()
        self._wake.set()
        log.warning("whatsapp: disconnected; waiting for the connection to come back")

    async def _on_keepalive_timeout(self, client: Any, event: Any) -> None:
        # one missed keepalive is common on a flaky network; whatsmeow reconnects on its own
        # when they keep failing, and KeepAliveRestored says when they answer again
        if self.state == "connected":
            self.state = "not responding"
        level = logging.WARNING if event.ErrorCount == 3 else logging.DEBUG
        log.log(level, "whatsapp: %d keepalives unanswered", event.ErrorCount)

    async def _on_keepalive_restored(self, client: Any, event: Any) -> None:
        if self.state == "not responding":
            self.state = "connected"
        log.info("whatsapp: keepalive answered again")

    async def _on_logged_out(self, client: Any, event: Any) -> None:
        from neonize.proto.Neonize_pb2 import ConnectFailureReason

        reason = ConnectFailureReason.Name(event.Reason).lower().replace("_", " ")
        self._halt(
            "logged out",
            f"WhatsApp logged Foreman out ({reason}): run `foreman whatsapp login` "
            "and restart foreman serve",
        )

    async def _on_stream_replaced(self, client: Any, event: Any) -> None:
        # reconnecting would kick the other program off, which kicks Foreman off, for ever
        self._halt(
            "replaced",
            "another program connected with this WhatsApp session; Foreman let it have it "
            "(stop the other one, then restart foreman serve)",
        )

    async def _on_client_outdated(self, client: Any, event: Any) -> None:
        self._halt(
            "client outdated",
            "WhatsApp refuses this client version: upgrade neonize (pip install -U neonize) "
            "and restart foreman serve",
        )

    async def _on_temporary_ban(self, client: Any, event: Any) -> None:
        from neonize.proto.Neonize_pb2 import TemporaryBan

        reason = TemporaryBan.TempBanReason.Name(event.Code).lower().replace("_", " ")
        until = self.clock() + timedelta(seconds=max(event.Expire, 60))
        self._banned_until = until
        self.state = "temporarily banned"
        self.connected.clear()
        self.attention = (
            f"WhatsApp has temporarily banned this account ({reason}) until "
            f"{until:%Y-%m-%d %H:%M} UTC; Foreman reconnects after that"
        )
        log.error("whatsapp: %s", self.attention)

    async def _on_connect_failure(self, client: Any, event: Any) -> None:
        from neonize.proto.Neonize_pb2 import ConnectFailureReason as Reason

        if event.Reason in (Reason.LOGGED_OUT, Reason.MAIN_DEVICE_GONE, Reason.UNKNOWN_LOGOUT):
            await self._on_logged_out(client, event)
        elif event.Reason == Reason.CLIENT_OUTDATED:
            await self._on_client_outdated(client, event)
        elif event.Reason != Reason.TEMP_BANNED:  # TemporaryBan follows with its expiry
            self.state = "disconnected"
            self.connected.clear()
            self._wake.set()
            log.warning(
                "whatsapp: WhatsApp refused the connection (%s); retrying",
                event.Message or Reason.Name(event.Reason),
            )

    def _halt(self, state: str, attention: str) -> None:
        self.halted = True
        self.state = state
        self.attention = attention
        self.connected.clear()
        self._wake.set()
        log.error("whatsapp: %s", attention)

    # --- staying connected ----------------------------------------------------------------

    async def _connect(self) -> None:
        from assistant.channels.whatsapp_client import bind_callbacks

        bind_callbacks()
        try:
            # schedules the Go connection call; its errors end that task, they never raise here
            connection = await self.client.connect()
        except Exception:
            log.warning("whatsapp: connecting failed", exc_info=True)
            self._ended = True
            self._wake.set()
            return
        self._connection = connection
        if isinstance(connection, asyncio.Future):
            connection.add_done_callback(self._connection_ended)

    def _connection_ended(self, connection: asyncio.Future[Any]) -> None:
        if connection is not self._connection or connection.cancelled():
            return
        error = connection.exception()
        self._ended = True
        if self.halted:
            return
        self.state = "disconnected"
        self.connected.clear()
        self._wake.set()
        log.warning("whatsapp: the connection ended (%s); retrying", error or "closed")

    async def _stop_client(self) -> None:
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await self.client.stop()
        except Exception:  # the Go side may already be gone; stopping must still succeed
            log.debug("whatsapp: stop failed", exc_info=True)

    async def is_connected(self) -> bool:
        # neonize's async client exposes this as a property that returns a coroutine
        value = self.client.is_connected
        if inspect.isawaitable(value):
            value = await value
        return bool(value)

    async def _watch(self) -> None:
        while not self.halted and not self._stopping:
            try:
                async with asyncio.timeout(self.watchdog_seconds):
                    await self._wake.wait()
                if not self._ended:
                    # whatsmeow reconnects by itself after a drop: give it one period
                    await asyncio.sleep(self.watchdog_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if self.halted or self._stopping:
                break
            await self._check()
            self.checks += 1
        if self._connection is not None:
            self._connection = None
            await self._stop_client()

    async def _check(self) -> None:
        """One watchdog round: reconnect unless connected or banned for a while yet."""
        if self._banned_until is not None:
            if self.clock() < self._banned_until:
                return
            self._banned_until = None
            self.attention = ""
            await self._reconnect()
        elif self._ended or not await self.is_connected():
            await self._reconnect()

    async def _reconnect(self) -> None:
        from assistant.channels.whatsapp_client import go_calls

        attempt = 0
        while not self.halted and not self._stopping:
            delay = self.backoff[min(attempt, len(self.backoff) - 1)]
            attempt += 1
            self.state = "reconnecting"
            log.warning("whatsapp: not connected, reconnect attempt %d", attempt)
            self.connected.clear()
            # stop ends the old Go connection call; connect starts a fresh one from the session
            self._connection = None
            await self._stop_client()
            bridge = go_calls(self.client)
            if bridge is not None and not await bridge.connection_closed(delay):
                # never a second connection call while one is still running in Go
                log.warning("whatsapp: the previous connection is still closing; waiting")
                continue
            if self._stopping:
                return  # never a new connection once stop() has begun
            self._ended = False
            await self._connect()
            try:
                async with asyncio.timeout(delay):
                    await self.connected.wait()
            except TimeoutError:
                continue
            self.reconnects += 1
            return


def logged(
    handler: Callable[[Any, Any], Awaitable[None]],
) -> Callable[[Any, Any], Awaitable[None]]:
    """The handler with its exceptions logged: neonize never reads a handler's result."""

    async def run(client: Any, event: Any) -> None:
        try:
            await handler(client, event)
        except Exception:
            log.exception("whatsapp: handling %s failed", type(event).__name__)

    return run

"""Linking Foreman to a WhatsApp account as a linked device, the way whatsmeow requires it.

`connect()` only schedules the Go client: it exists once the connection call runs, and a pair
code can be asked for only after that connection shows its first QR code. Pairing ends with a
`PairStatus` event that carries either the account or WhatsApp's reason for refusing. Whatever
happens, the client is stopped and the call returns or raises `LoginError` within the timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.channels.whatsapp_session import (
    SessionState,
    keep_private,
    note_linked,
    read_session,
)

log = logging.getLogger("foreman.channels.whatsapp")

QR_PROMPT = "Scan this with WhatsApp > Settings > Linked devices > Link a device:\n"
STOP_SECONDS = 10.0
# how long an earlier connection call on the same session may take to return after its stop
SETTLE_SECONDS = 2.0


class LoginError(RuntimeError):
    """Linking did not happen; the message says why in one line."""


@dataclass(frozen=True)
class Linked:
    account: str
    session: Path
    already: bool = False  # the session was linked before; nothing was done


def qr_text(data: bytes) -> str:
    """A QR code drawn with block characters for a terminal."""
    import io

    import segno

    buffer = io.StringIO()
    segno.make_qr(data).terminal(out=buffer, compact=True)
    return buffer.getvalue()


def phone_digits(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch in "0123456789")
    if not 7 <= len(digits) <= 15:
        raise LoginError(
            f"{phone!r} is not a phone number in international form (like +49 170 1234567)"
        )
    return digits


async def login(
    db: Path,
    *,
    phone: str | None = None,
    show: Callable[[str], None] = print,
    timeout: float = 300.0,
    library: Any = None,
) -> Linked:
    """Link the session in `db`: show QR codes (or one pair code for `phone`) until linked.

    Raises `LoginError` when WhatsApp refuses, the connection fails, or nobody linked within
    `timeout` seconds. `library` stands in for neonize's Go library in tests.
    """
    from assistant.channels.whatsapp_client import go_calls, neonize_client, park_callbacks

    before = read_session(db)
    if before.state is SessionState.LINKED:
        return Linked(before.account or "unknown", db, already=True)
    if before.state is SessionState.UNREADABLE:
        raise LoginError(f"{before.describe()}: move it away, then run the login again")
    digits = phone_digits(phone) if phone is not None else None
    keep_private(db)
    try:
        client = neonize_client(db, library=library)
    except ImportError:
        raise LoginError(
            "neonize cannot be loaded: pip install --force-reinstall neonize"
        ) from None
    except RuntimeError as exc:
        raise LoginError(str(exc)) from None
    bridge = go_calls(client)
    if bridge is not None and not await bridge.connection_closed(SETTLE_SECONDS):
        raise LoginError(
            f"an earlier link attempt for {db} is still waiting inside the WhatsApp library "
            "and cannot be stopped from here: restart Foreman, then try again"
        )
    try:
        account = await _link(client, digits, show, timeout)
    finally:
        await _stop(client)
        if bridge is not None and not await bridge.connection_closed(1.0):
            park_callbacks()
    after = read_session(db)
    if after.state is not SessionState.LINKED:
        raise LoginError(
            f"WhatsApp reported the link, but {db} holds no device: run the login again"
        )
    note_linked(db, after.account or account)
    keep_private(db)
    return Linked(after.account or account, db)


async def _link(client: Any, phone: str | None, show: Callable[[str], None], timeout: float) -> str:
    from neonize.aioze.events import (
        ClientOutdatedEv,
        ConnectedEv,
        ConnectFailureEv,
        PairStatusEv,
        TemporaryBanEv,
    )
    from neonize.proto.Neonize_pb2 import ConnectFailureReason, PairStatus

    from assistant.channels.whatsapp_client import bind_callbacks

    loop = asyncio.get_running_loop()
    active = [True]  # a Go QR loop that outlives the login must not print into a later one
    first_qr = asyncio.Event()
    connected = asyncio.Event()
    outcome: asyncio.Future[str] = loop.create_future()

    def fail(reason: str) -> None:
        if active[0] and not outcome.done():
            outcome.set_exception(LoginError(reason))

    async def on_qr(_: Any, data: bytes) -> None:
        # registered with --phone too: neonize's default would print QR codes to stdout
        if not active[0]:
            return
        if phone is None:
            show(QR_PROMPT + qr_text(data))
        first_qr.set()

    async def on_pair(_: Any, event: Any) -> None:
        if event.Status == PairStatus.ERROR or event.Error:
            fail(f"WhatsApp refused the link: {event.Error or 'no reason given'}")
        elif not outcome.done():
            outcome.set_result(f"{event.ID.User}@{event.ID.Server}")

    async def on_connected(_: Any, event: Any) -> None:
        connected.set()

    async def on_outdated(_: Any, event: Any) -> None:
        fail("WhatsApp refuses this client version: upgrade neonize (pip install -U neonize)")

    async def on_ban(_: Any, event: Any) -> None:
        fail(f"WhatsApp has temporarily banned this account (code {event.Code})")

    async def on_failure(_: Any, event: Any) -> None:
        name = ConnectFailureReason.Name(event.Reason) if event.Reason else "unknown"
        fail(f"WhatsApp refused the connection: {event.Message or name}")

    client.event.qr(on_qr)
    client.event(PairStatusEv)(on_pair)
    client.event(ConnectedEv)(on_connected)
    client.event(ClientOutdatedEv)(on_outdated)
    client.event(TemporaryBanEv)(on_ban)
    client.event(ConnectFailureEv)(on_failure)

    def connection_ended(task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        fail(f"could not connect to WhatsApp: {error}" if error else "the connection ended")

    bind_callbacks()
    task = await client.connect()
    task.add_done_callback(connection_ended)
    deadline = loop.time() + timeout

    def failure() -> BaseException | None:
        if outcome.done() and not outcome.cancelled():
            return outcome.exception()
        return None

    async def until(awaitable: Any) -> Any:
        """The awaitable's result, or the login's failure if that comes first."""
        if (error := failure()) is not None:
            raise error
        waiter = asyncio.ensure_future(awaitable)
        watch = {waiter} if outcome.done() else {waiter, outcome}
        try:
            done, _ = await asyncio.wait(
                watch, timeout=max(0.0, deadline - loop.time()), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not waiter.done():
                waiter.cancel()
        if (error := failure()) is not None:
            raise error
        if waiter not in done:
            raise LoginError(f"not linked within {timeout:.0f} seconds")
        return waiter.result()

    try:
        return await _steps(client, phone, show, until, first_qr, outcome, connected)
    finally:
        active[0] = False


async def _steps(
    client: Any,
    phone: str | None,
    show: Callable[[str], None],
    until: Callable[[Any], Any],
    first_qr: asyncio.Event,
    outcome: asyncio.Future[str],
    connected: asyncio.Event,
) -> str:
    if phone is not None:
        from neonize.exc import PairPhoneError

        await until(first_qr.wait())
        try:
            code = await client.PairPhone(phone, show_push_notification=True)
        except PairPhoneError as exc:
            raise LoginError(f"WhatsApp refused the pair code request: {exc}") from None
        show(
            "On your phone: WhatsApp > Settings > Linked devices > Link a device > "
            f"Link with phone number instead, and enter {code}"
        )
    account = await until(outcome)
    await until(connected.wait())
    return account


async def _stop(client: Any) -> None:
    try:
        await asyncio.wait_for(client.stop(), STOP_SECONDS)
    except Exception:  # the Go side may be gone already; the login's own outcome matters
        log.debug("whatsapp: stop after login failed", exc_info=True)

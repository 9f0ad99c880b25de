"""What every chat channel offers the gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from assistant.messages import Inbound, Outbound

# the gateway's answer to one inbound message: what to send back (possibly nothing)
InboundHandler = Callable[[Inbound], Awaitable[list[Outbound]]]


class ChannelError(RuntimeError):
    """A channel could not start (bad credentials, unreachable service); says which and why."""


class Undeliverable(RuntimeError):
    """The platform refuses to deliver to this chat for good (a user who never started the
    bot or blocked it, a group the bot left): retrying cannot help, the principal must act."""


@dataclass(frozen=True)
class ChannelHealth:
    platform: str
    state: str  # e.g. polling, webhook, connected, reconnecting, stopped
    detail: str = ""
    last_inbound: datetime | None = None
    # set when the channel cannot go on by itself: one line telling the principal what to do
    attention: str = ""

    def summary(self) -> str:
        seen = f"{self.last_inbound:%H:%M:%S}" if self.last_inbound else "none"
        detail = f" {self.detail}" if self.detail else ""
        return f"{self.platform} {self.state}{detail} (last inbound {seen})"


class Channel(Protocol):
    """A chat platform translated to and from `Inbound` / `Outbound`; no business rules.

    A channel whose platform edits a message in place silently and as often as every few
    seconds says so with a class attribute `live_edits = True` (absent means it cannot).
    """

    platform: str

    async def start(self, on_inbound: InboundHandler) -> None: ...

    async def send(self, message: Outbound) -> str | None: ...

    async def stop(self) -> None: ...

    def health(self) -> ChannelHealth: ...

"""Chat channels: each translates one platform to and from `Inbound` / `Outbound`.

The platform modules (`telegram`, `whatsapp`) import their libraries lazily, so importing
this package costs nothing when a channel is not configured.
"""

from assistant.channels._base import (
    Channel,
    ChannelError,
    ChannelHealth,
    InboundHandler,
    Undeliverable,
)
from assistant.channels._chunks import split_text

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelHealth",
    "InboundHandler",
    "Undeliverable",
    "split_text",
]

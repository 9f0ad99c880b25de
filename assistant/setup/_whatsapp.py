"""The seam between setup and the WhatsApp channel's own login (QR code or pair code)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from assistant.setup._errors import SetupError


def link_whatsapp(
    db: Path, *, phone: str | None, show: Callable[[str], None], timeout: float = 300.0
) -> str:
    """Run the channel's login with its session in `db`; the linked account's JID."""
    try:
        from assistant.channels.whatsapp import login, neonize_client
    except ImportError:
        raise SetupError(
            "WhatsApp needs the whatsapp extra: pip install 'foreman-assistant[whatsapp]'"
        ) from None
    client = neonize_client(db)
    try:
        return asyncio.run(login(client, phone=phone, show=show, timeout=timeout))
    except TimeoutError:
        raise SetupError(f"not paired within {timeout:.0f} seconds; nothing written") from None
    except Exception as exc:  # the WhatsApp client's own failures (network, a revoked session)
        raise SetupError(f"the WhatsApp login failed ({type(exc).__name__}); try again") from None

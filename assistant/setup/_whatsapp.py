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
        from assistant.channels.whatsapp_login import LoginError, login

        linked = asyncio.run(login(db, phone=phone, show=show, timeout=timeout))
    except ImportError:
        raise SetupError(
            "WhatsApp needs the whatsapp extra: pip install 'foreman-assistant[whatsapp]'"
        ) from None
    except LoginError as exc:
        raise SetupError(str(exc)) from None
    except Exception as exc:  # the WhatsApp library's own failures, never a traceback
        raise SetupError(f"the WhatsApp login failed ({type(exc).__name__}); try again") from None
    if linked.already:
        show(f"Already linked ({db}); to link another account, unlink this device on the phone.")
    return linked.account

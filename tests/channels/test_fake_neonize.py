"""The stand-in Go library answers as the installed one does, where that needs no network.

A client that never connected touches no server: there, neonize over the real goneonize and
neonize over `FakeWhatsmeow` must fail the same way, or the fake's other promises are suspect.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.channels.whatsapp import to_jid
from assistant.channels.whatsapp_client import neonize_client
from tests.channels.fake_neonize import FakeWhatsmeow

OWNER = "491701234567@s.whatsapp.net"


@pytest.fixture
def fake() -> Iterator[FakeWhatsmeow]:
    go = FakeWhatsmeow()
    yield go
    go.close()


async def failure(call: Any) -> str:
    try:
        await call
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no error"


async def answers(client: Any) -> list[str]:
    return [
        await failure(client.PairPhone("491701234567", show_push_notification=True)),
        await failure(client.send_message(to_jid(OWNER), "hello")),
        await failure(client.create_group("0001 builder", participants=[to_jid(OWNER)])),
        str(await client.is_connected),
    ]


async def test_a_never_connected_client_fails_alike_on_the_real_and_the_fake_library(
    tmp_path: Path, fake: FakeWhatsmeow
) -> None:
    real = await answers(neonize_client(tmp_path / "real" / "whatsapp.db"))
    stood_in = await answers(neonize_client(tmp_path / "fake" / "whatsapp.db", library=fake))
    assert stood_in == real
    assert real[0].startswith("PairPhoneError: client is nil")
    assert real[1] == "SendMessageError: client is nil"
    assert real[3] == "False"

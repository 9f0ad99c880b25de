"""A channel that stays down is told on the other channels, and again when it is back."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from inline_snapshot import snapshot

from assistant.channels import ChannelHealth, InboundHandler
from assistant.gateway import AllowList, Gateway, HealthWriter, Router, load_config, served_health
from assistant.messages import Outbound
from assistant.store import open_store

T0 = datetime(2026, 12, 2, 0, 10, tzinfo=UTC)


class Link:
    """A channel whose connection state the test sets: the WhatsApp/Telegram libraries are
    covered by their own tests; here only the gateway's reading of health matters."""

    def __init__(self, platform: str, state: str) -> None:
        self.platform = platform
        self.state = state
        self.sent: list[Outbound] = []

    async def start(self, on_inbound: InboundHandler) -> None:
        pass

    async def send(self, message: Outbound) -> str | None:
        self.sent.append(message)
        return str(len(self.sent))

    async def stop(self) -> None:
        pass

    def health(self) -> ChannelHealth:
        return ChannelHealth(self.platform, self.state)


def gateway(*links: Link, minutes: float = 10) -> Gateway:
    allow = AllowList.of(telegram=["42"], whatsapp=["15551234567@s.whatsapp.net"])
    return Gateway(Router(allow=allow), list(links), alarm_minutes=minutes)


async def test_an_outage_past_the_alarm_is_told_once_and_its_end_with_the_duration() -> None:
    telegram, whatsapp = Link("telegram", "polling"), Link("whatsapp", "connected")
    gw = gateway(telegram, whatsapp)
    whatsapp.state = "disconnected"
    await gw.watch_links(T0)
    await gw.watch_links(T0 + timedelta(minutes=9))
    assert telegram.sent == []  # a short drop is no news
    await gw.watch_links(T0 + timedelta(minutes=10))
    await gw.watch_links(T0 + timedelta(minutes=15))
    assert "whatsapp disconnected (last inbound none) down since 00:10 UTC" in gw.health_line()
    whatsapp.state = "connected"
    await gw.watch_links(T0 + timedelta(minutes=23))
    assert [(m.chat.key, m.text) for m in telegram.sent] == snapshot(
        [
            (
                "telegram:42",
                "⚠️ whatsapp has been disconnected for 10 min (since 00:10 UTC): messages there do not reach me.",
            ),
            ("telegram:42", "✅ whatsapp is back (it was down 23 min)."),
        ]
    )
    assert whatsapp.sent == [] and "down since" not in gw.health_line()


async def test_a_blip_shorter_than_the_alarm_is_never_told() -> None:
    telegram, whatsapp = Link("telegram", "polling"), Link("whatsapp", "reconnecting")
    gw = gateway(telegram, whatsapp)
    await gw.watch_links(T0)
    whatsapp.state = "connected"
    await gw.watch_links(T0 + timedelta(minutes=3))
    assert telegram.sent == []


def test_the_alarm_minutes_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREMAN_CHANNEL_ALARM_MINUTES", "2")
    assert gateway(Link("telegram", "polling"), minutes=None).alarm_seconds == 120  # type: ignore[arg-type]
    monkeypatch.setenv("FOREMAN_CHANNEL_ALARM_MINUTES", "soon")
    with pytest.raises(ValueError, match="FOREMAN_CHANNEL_ALARM_MINUTES must be a number"):
        gateway(Link("telegram", "polling"), minutes=None)  # type: ignore[arg-type]


async def test_doctor_names_a_channel_down_and_a_chat_that_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREMAN_TELEGRAM_TOKEN", "123:abc")
    config = load_config(None)
    store = open_store(tmp_path / "state")
    telegram, whatsapp = Link("telegram", "polling"), Link("whatsapp", "disconnected")
    gw = gateway(telegram, whatsapp)
    await gw.watch_links(T0)
    gw.unreachable["telegram:4242"] = (
        "telegram chat 4242: Forbidden: bot can't initiate conversation with a user"
    )
    writer = HealthWriter(gw, store, config)
    async with httpx.AsyncClient() as http:
        health = await writer.snapshot(http, running=True)
    (tmp_path / "state" / "health.json").write_text(json.dumps(asdict(health)))
    lines = [str(c) for c in served_health(config, tmp_path / "state")]
    assert lines == snapshot(
        [
            "fail whatsapp link: disconnected since 2026-12-02 00:10 UTC (foreman serve, pid "
            f"{health.pid})",
            "warn undelivered: telegram:4242 refuses messages (Forbidden: bot can't initiate conversation "
            "with a user); the user must open a chat with the bot and press Start (or unblock it)",
        ]
    )

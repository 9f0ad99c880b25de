"""`foreman doctor` checks for the configured chat channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx

from assistant.doctor import Check, DoctorContext, Tier, doctor_check
from assistant.gateway._config import GatewayConfig

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class ChannelCheck:
    name: str
    status: Status
    detail: str

    def __str__(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


def check_channels(config: GatewayConfig, *, timeout: float = 5.0) -> list[ChannelCheck]:
    """One line per fact worth knowing about each channel; secrets are never shown."""
    checks: list[ChannelCheck] = []
    if config.telegram is None and config.whatsapp is None:
        checks.append(
            ChannelCheck(
                "channels",
                "warn",
                "none configured (set FOREMAN_TELEGRAM_TOKEN or FOREMAN_WHATSAPP_DB)",
            )
        )
    if config.telegram is not None:
        checks.extend(_telegram(config, timeout))
    if config.whatsapp is not None:
        checks.extend(_whatsapp(config))
    if config.pairing.enabled:
        checks.append(
            ChannelCheck(
                "pairing",
                "ok",
                f"on: strangers get a code valid {config.pairing.ttl_minutes} min, "
                f"at most {config.pairing.max_pending} pending",
            )
        )
    return checks


def _telegram(config: GatewayConfig, timeout: float) -> list[ChannelCheck]:
    tg = config.telegram
    assert tg is not None
    checks = []
    url = f"{tg.base_url}{tg.token}/getMe"
    try:
        response = httpx.get(url, timeout=timeout)
        payload = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        # the exception text may hold the URL, and the URL holds the token: name the host only
        host = httpx.URL(tg.base_url).host
        checks.append(
            ChannelCheck("telegram", "fail", f"cannot reach {host}: {type(exc).__name__}")
        )
    else:
        if response.status_code == 200 and payload.get("ok"):
            username = payload["result"].get("username")
            mode = "webhook" if tg.webhook_url else "long polling"
            checks.append(ChannelCheck("telegram", "ok", f"bot @{username}, {mode}"))
        else:
            reason = payload.get("description", f"HTTP {response.status_code}")
            checks.append(ChannelCheck("telegram", "fail", f"token refused: {reason}"))
    checks.append(_allow_list("telegram", tg.allowed_users, "FOREMAN_TELEGRAM_ALLOWED_USERS"))
    return checks


def _whatsapp(config: GatewayConfig) -> list[ChannelCheck]:
    from assistant.channels.whatsapp_session import SessionState, exposure, read_session

    wa = config.whatsapp
    assert wa is not None
    checks = []
    try:
        from assistant.channels.whatsapp_client import load_neonize

        load_neonize()
    except Exception as exc:
        checks.append(
            ChannelCheck(
                "whatsapp",
                "fail",
                f"neonize cannot be loaded ({exc}); pip install --force-reinstall neonize",
            )
        )
    session = read_session(wa.db)
    linked = session.state is SessionState.LINKED
    checks.append(ChannelCheck("whatsapp session", "ok" if linked else "fail", session.describe()))
    if wa.db.exists() and (problem := exposure(wa.db)):
        checks.append(
            ChannelCheck("whatsapp session access", "warn", f"readable by others: {problem}")
        )
    checks.append(_allow_list("whatsapp", wa.allowed, "FOREMAN_WHATSAPP_ALLOWED"))
    return checks


def _allow_list(channel: str, allowed: tuple[str, ...], variable: str) -> ChannelCheck:
    if allowed:
        return ChannelCheck(f"{channel} users", "ok", f"{len(allowed)} allow-listed")
    return ChannelCheck(
        f"{channel} users", "warn", f"nobody allow-listed ({variable}): every DM is ignored"
    )


@doctor_check("channels", Tier.CHANNELS)
def doctor_checks(context: DoctorContext) -> list[Check]:
    """`foreman doctor`'s channel checks: the config file, then each configured channel."""
    from assistant.gateway._config import ConfigError, default_config_path, load_config

    path = default_config_path()
    try:
        config = load_config(path)
    except ConfigError as exc:
        return [Check("config", False, str(exc))]
    if path is None and config.telegram is None and config.whatsapp is None:
        return []  # nothing configured for serving: nothing to check
    checks = [Check("config", True, str(path) if path else "no file; environment only")]
    found = check_channels(config) + served_health(config, context.state_dir)
    for check in found:
        detail = f"warning: {check.detail}" if check.status == "warn" else check.detail
        checks.append(Check(check.name, check.status != "fail", detail, {"status": check.status}))
    return checks


@doctor_check("relay events", Tier.CHANNELS)
def relay_skips(context: DoctorContext) -> list[Check]:
    """What the last `foreman serve` says its relay skipped, when it skipped anything."""
    from assistant.gateway._health import read_health
    from assistant.store import default_state_dir
    from tools.workspace import WorkspaceNotFound, find_workspace

    try:
        root: Path | None = find_workspace(context.workspace_dir, context.file).root
    except WorkspaceNotFound:
        root = None
    health = read_health(context.state_dir or default_state_dir(root))
    skipped = health.relay_malformed_events if health is not None else 0
    if not skipped:
        return []
    detail = f"the relay skipped {skipped} malformed OpenCode event(s) (see the serve log)"
    return [Check("relay events", True, f"warning: {detail}", {"relay_malformed_events": skipped})]


def served_health(config: GatewayConfig, state_dir: Path | None = None) -> list[ChannelCheck]:
    """What the running `foreman serve` last saw: channels down, chats it cannot reach."""
    from assistant.gateway._health import read_health
    from assistant.store import default_state_dir
    from tools.workspace import WorkspaceNotFound, find_workspace

    state_dir = state_dir or config.state_dir
    if state_dir is None:
        try:
            state_dir = default_state_dir(find_workspace(config.workspace).root)
        except WorkspaceNotFound:
            state_dir = default_state_dir()
    health = read_health(state_dir)
    if health is None or not health.fresh():
        return []  # no gateway running: nothing it saw is current
    checks = []
    for channel in health.channels:
        if channel.down_since:
            since = datetime.fromisoformat(channel.down_since)
            checks.append(
                ChannelCheck(
                    f"{channel.platform} link",
                    "fail",
                    f"{channel.state} since {since:%Y-%m-%d %H:%M} UTC (foreman serve, pid "
                    f"{health.pid})",
                )
            )
    for line in health.unreachable:
        key, _, why = line.partition(": ")
        checks.append(
            ChannelCheck(
                "undelivered",
                "warn",
                f"{key} refuses messages ({why.split(': ', 1)[-1]}); the user must open a "
                "chat with the bot and press Start (or unblock it)",
            )
        )
    return checks

"""The OpenCode server `foreman serve` talks to: the one the user configured, or one it runs
itself (a child `opencode serve` on 127.0.0.1 with a random password), and what the bound
chats and `foreman doctor` hear about it."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.doctor import Check, DoctorContext, Tier, doctor_check
from assistant.gateway._config import GatewayConfig
from assistant.messages import ChatRef, Outbound
from tools.opencode import ManagedServer, Restart, find_opencode_binary

if TYPE_CHECKING:
    from assistant.gateway._gateway import Gateway

log = logging.getLogger("foreman.gateway")

LOG_FILE = "opencode.log"
# checked against opencode 1.18.33: sessions are kept on disk and answer after a restart; a
# turn that was running is gone, and the relay reports it as interrupted when it reconnects
RESTARTED = (
    "🔁 OpenCode stopped and was restarted; builders' sessions continue "
    "(a turn that was running was interrupted: send it again)."
)
GAVE_UP = (
    "❌ OpenCode stopped and could not be restarted; builders cannot be reached until "
    "`foreman serve` is restarted (its log: {log})."
)
NO_BINARY = "opencode not found (install opencode-ai or set FOREMAN_OPENCODE_URL)"


def managed_server(config: GatewayConfig, state_dir: Path) -> ManagedServer | None:
    """The server `foreman serve` runs itself: none when a URL is configured, when that is
    turned off (FOREMAN_OPENCODE_MANAGE=off, [opencode] manage = false) or no binary is found."""
    if config.opencode.url or not config.opencode.manage:
        return None
    binary = find_opencode_binary()
    if binary is None:
        return None
    return ManagedServer(binary, state_dir / LOG_FILE)


def served_by(config: GatewayConfig, server: ManagedServer) -> GatewayConfig:
    """The configuration with the managed server as its OpenCode server."""
    opencode = dataclasses.replace(
        config.opencode, url=server.url, password=server.password, username=server.username
    )
    return dataclasses.replace(config, opencode=opencode)


def missing_note(config: GatewayConfig) -> str | None:
    """For the health line: why there is no OpenCode server at all, when that is so."""
    if config.opencode.url:
        return None
    if not config.opencode.manage:
        return "opencode off (FOREMAN_OPENCODE_MANAGE=off, no FOREMAN_OPENCODE_URL)"
    return NO_BINARY if find_opencode_binary() is None else None


def run_with(gateway: Gateway, server: ManagedServer, relay: Any) -> None:
    """Start the server before the gateway serves, restart it while it does (telling the
    relay's bound chats), stop it with the gateway."""

    async def start() -> None:
        await server.start()
        gateway.extras = (*gateway.extras, f"opencode managed (pid {server.pid}, {server.url})")

    async def told(restart: Restart) -> None:
        text = RESTARTED if restart.restarted else GAVE_UP.format(log=server.log_path)
        await tell_bound_chats(gateway, relay, text)

    async def watch() -> None:
        await server.watch(told)

    gateway.prepare = (*gateway.prepare, start)
    gateway.background = (*gateway.background, watch)
    # after the relay's client is closed: nothing talks to the server while it stops
    gateway.closers = (*gateway.closers, server.stop)


async def tell_bound_chats(gateway: Gateway, relay: Any, text: str) -> None:
    """One notice to every chat bound to a builder, once per chat."""
    chats: dict[str, ChatRef] = {}
    if relay is not None:
        for binding in relay.bindings():
            chats.setdefault(binding.chat_key, binding.chat())
    for chat in chats.values():
        try:
            await gateway.send(Outbound(chat, text, kind="notification"))
        except Exception:  # gateway.send logged and kept it; the others still get theirs
            continue


@doctor_check("opencode srv", Tier.CHANNELS)
def check_server(context: DoctorContext) -> list[Check]:
    """Which OpenCode server `foreman serve` uses: configured (warned when it has no
    password), managed (with what the running gateway says of it), or none."""
    from assistant.gateway._config import ConfigError, default_config_path, load_config
    from assistant.gateway._health import read_health

    try:
        config = load_config(default_config_path())
    except ConfigError:
        return []  # the channels check names the broken config
    opencode = config.opencode
    if opencode.url:
        if opencode.password:
            return [Check("opencode srv", True, f"configured: {opencode.url}, with a password")]
        detail = (
            f"{opencode.url} is used without a password (configured explicitly): anyone who "
            "reaches it can run commands as you; set FOREMAN_OPENCODE_PASSWORD"
        )
        return [Check("opencode srv", False, detail, {"url": opencode.url}, warning=True)]
    if config.telegram is None and config.whatsapp is None:
        return []  # no chat channel: `foreman serve` does not run, nor a server of its own
    if not opencode.manage:
        detail = "none: FOREMAN_OPENCODE_MANAGE=off and no FOREMAN_OPENCODE_URL (no relay)"
        return [Check("opencode srv", False, detail, warning=True)]
    binary = find_opencode_binary()
    if binary is None:
        detail = (
            "none: no opencode binary (FOREMAN_OPENCODE_BIN, PATH) and no FOREMAN_OPENCODE_URL; "
            "install it with `npm install -g opencode-ai`"
        )
        return [Check("opencode srv", False, detail, warning=True)]
    health = read_health(_state_dir(context, config))
    if health is None or not health.fresh() or not health.opencode_managed:
        detail = f"managed: `foreman serve` runs {binary} with a random password"
        return [Check("opencode srv", True, detail, {"binary": str(binary)})]
    data = {
        "state": health.opencode_state,
        "pid": health.opencode_pid,
        "url": health.opencode_url,
        "restarts": health.opencode_restarts,
        "log": health.opencode_log,
    }
    restarts = f", restarted {health.opencode_restarts}×" if health.opencode_restarts else ""
    if health.opencode_state == "failed":
        detail = f"managed, but it stopped and could not be restarted; see {health.opencode_log}"
        return [Check("opencode srv", False, detail, data)]
    detail = (
        f"managed by foreman serve: {health.opencode_state}, pid {health.opencode_pid} "
        f"on {health.opencode_url}{restarts}; log {health.opencode_log}"
    )
    return [Check("opencode srv", True, detail, data)]


def _state_dir(context: DoctorContext, config: GatewayConfig) -> Path:
    from assistant.store import default_state_dir
    from tools.workspace import WorkspaceNotFound, find_workspace

    if context.state_dir or config.state_dir:
        return context.state_dir or config.state_dir  # type: ignore[return-value]
    try:
        root: Path | None = find_workspace(context.workspace_dir or config.workspace).root
    except WorkspaceNotFound:
        root = None
    return default_state_dir(root)

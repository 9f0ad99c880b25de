"""Putting a gateway together from its configuration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from assistant.channels import Channel, ChannelError
from assistant.gateway._cards import CardEdits
from assistant.gateway._config import GatewayConfig
from assistant.gateway._gateway import Gateway, RelayRunner
from assistant.gateway._media import Media, workspace_vocabulary
from assistant.gateway._pairing import Pairing
from assistant.gateway._router import AllowList, AssistantPort, PrincipalKeys, RelayPort, Router
from assistant.store import Store


def allow_list(config: GatewayConfig) -> AllowList:
    return AllowList.of(
        telegram=config.telegram.allowed_users if config.telegram else (),
        whatsapp=config.whatsapp.allowed if config.whatsapp else (),
    )


def pairing_for(config: GatewayConfig, store: Store) -> Pairing:
    return Pairing(
        store,
        ttl=timedelta(minutes=config.pairing.ttl_minutes),
        max_pending=config.pairing.max_pending,
    )


def principal_keys(config: GatewayConfig, store: Store) -> PrincipalKeys:
    """Who may talk to the assistant and steer builders, as the services check it."""
    return PrincipalKeys(allow_list(config), pairing_for(config, store))


# the "/" menu Telegram shows: the assistant's commands in DMs, the relay's in builder groups
COMMAND_MENU: dict[str, list[tuple[str, str]]] = {
    "all_private_chats": [
        ("projects", "list projects"),
        ("project", "one project and its builders"),
        ("builders", "builders on disk"),
        ("status", "propose a status change"),
        ("approvals", "approvals waiting for you"),
        ("usage", "the assistant's own tokens in this chat"),
        ("help", "what I understand"),
    ],
    "all_group_chats": [
        ("status", "what the builder is doing"),
        ("stop", "stop the builder's turn"),
        ("new", "start a new session"),
        ("compact", "compact the session"),
        ("history", "what the builder said lately"),
        ("usage", "what the builder spent, and its budget"),
        ("budget", "ask to raise or lift the builder's budget"),
        ("help", "how to talk to the builder here"),
        ("bind", "bind this chat to a builder"),
    ],
}


def build_channels(config: GatewayConfig, *, whatsapp_client: Any = None) -> list[Channel]:
    channels: list[Channel] = []
    if config.telegram is not None:
        from assistant.channels.telegram import TelegramChannel

        tg = config.telegram
        channels.append(
            TelegramChannel(
                tg.token,
                base_url=tg.base_url,
                poll_timeout=tg.poll_timeout,
                webhook_url=tg.webhook_url,
                webhook_listen=tg.webhook_listen,
                webhook_port=tg.webhook_port,
                commands=COMMAND_MENU,
            )
        )
    if config.whatsapp is not None:
        from assistant.channels.whatsapp import WhatsAppChannel
        from assistant.channels.whatsapp_client import neonize_client

        wa = config.whatsapp
        try:
            client = whatsapp_client or neonize_client(wa.db)
        except ImportError:
            raise ChannelError(
                "whatsapp: neonize cannot be loaded (pip install --force-reinstall neonize)"
            ) from None
        except RuntimeError as exc:
            raise ChannelError(f"whatsapp: {exc}") from None
        channels.append(
            WhatsAppChannel(client, session=wa.db, watchdog_seconds=wa.watchdog_seconds)
        )
    return channels


def build_gateway(
    config: GatewayConfig,
    store: Store,
    *,
    assistant: AssistantPort | None = None,
    relay: RelayPort | None = None,
    channels: list[Channel] | None = None,
    closers: Sequence[Callable[[], Awaitable[object]]] = (),
    media: Media | None = None,
) -> Gateway:
    """A gateway with the configured channels, routing to the given assistant and relay."""
    pairing = pairing_for(config, store)
    router = Router(
        allow=allow_list(config),
        assistant=assistant,
        relay=relay,
        pairing=pairing,
        pairing_enabled=config.pairing.enabled,
        cards=CardEdits(store),
        media=media if media is not None else Media.from_env(),
    )
    runner: RelayRunner | None = relay if hasattr(relay, "run") else None  # type: ignore[assignment]
    principals = sum(len(ids) for ids in router.allow.users.values())
    extras = [
        f"{principals} allow-listed",
        f"pairing {'on' if config.pairing.enabled else 'off'}",
        f"state {store.path}",
    ]
    gateway = Gateway(
        router,
        channels if channels is not None else build_channels(config),
        relay_runner=runner,
        extras=extras,
        closers=closers,
    )
    if relay is not None and hasattr(relay, "live_edits"):
        # the relay keeps a turn's status in one edited message only where a channel can
        relay.live_edits = gateway.live_edits  # type: ignore[attr-defined]
    return gateway


def build_serve_gateway(config: GatewayConfig, store: Store) -> Gateway:
    """Everything `foreman serve` runs: services, channels, builder groups and topics, MCP,
    and the OpenCode server when it runs its own."""
    from assistant.gateway._opencode import managed_server, missing_note, run_with, served_by
    from assistant.gateway._services import build_services

    server = managed_server(config, store.path.parent)
    if server is not None:
        config = served_by(config, server)  # the relay and the orchestrator talk to it
    services = build_services(config, store, principal_keys(config, store))
    gateway = build_gateway(
        config,
        store,
        assistant=services.assistant,
        relay=services.relay,
        closers=services.closers,
        media=Media.from_env(workspace_vocabulary(services)),
    )
    if server is not None:
        server.cwd = services.workspace.root
        run_with(gateway, server, services.relay)
    elif note := missing_note(config):
        gateway.extras = (*gateway.extras, note)
    telegram = gateway.channels.get("telegram")
    relay = services.relay
    if telegram is not None and relay is not None:
        # a bound group that became a supergroup: its bindings follow it
        def moved(old: str, new: str) -> None:
            relay.chat_moved("telegram", old, new)

        telegram.on_migrated = moved  # type: ignore[attr-defined]
    if telegram is not None:
        from assistant.gateway._topics import ForumTopics

        router = gateway.router
        topics = ForumTopics(
            telegram,  # type: ignore[arg-type]
            gateway.send,
            store,
            services.workspace.root,
            services.projects,
            principals=lambda: router.allow.users.get("telegram", ()),
            bind=services.relay.bound.bind if services.relay is not None else None,
        )
        telegram.on_topic_gone = topics.topic_gone  # type: ignore[attr-defined]
        gateway.background = (*gateway.background, topics.run)
    whatsapp = gateway.channels.get("whatsapp")
    if whatsapp is not None and services.relay is not None and config.whatsapp is not None:
        from assistant.gateway._groups import WhatsAppGroups

        groups = WhatsAppGroups(
            whatsapp,  # type: ignore[arg-type]
            store,
            services.workspace.root,
            services.projects,
            participants=config.whatsapp.allowed,
        )
        gateway.background = (*gateway.background, groups.run)
    from assistant.gateway._health import HealthWriter

    # health.json in the state directory, for `foreman service status`
    gateway.background = (
        *gateway.background,
        HealthWriter(gateway, store, config, server=server).run,
    )
    if config.mcp.http:
        from assistant.gateway._mcp import mcp_job

        serve_mcp, url = mcp_job(
            config, services.assistant, services.workspace, deliver=gateway.send
        )
        gateway.background = (*gateway.background, serve_mcp)
        gateway.extras = (*gateway.extras, f"mcp {url}")
    return gateway

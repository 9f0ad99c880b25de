"""Building the assistant and the relay that `foreman serve` routes to."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.gateway._config import ConfigError, GatewayConfig
from assistant.gateway._router import PrincipalKeys
from assistant.store import Store

if TYPE_CHECKING:
    from tools.opencode import OpenCodeClient
    from tools.orchestrator import Orchestrator
    from tools.workspace import Workspace

log = logging.getLogger("foreman.gateway")


@dataclass
class Services:
    """What the router routes to, built from the configuration."""

    workspace: Any  # tools.workspace.Workspace
    assistant: Any  # assistant.dm.DirectMessages
    relay: Any = None  # assistant.relay.Relay, when an OpenCode server is configured
    closers: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    def projects(self) -> list[Any]:
        return declared_projects(self.workspace.projectlist_path)


def builder_orchestrator(
    config: GatewayConfig,
    store: Store,
    workspace: Workspace,
    opencode: OpenCodeClient | None = None,
) -> Orchestrator:
    """The orchestrator with foreman.toml's `[builders]` settings; archives beside the state.
    Builders get their sessions on `opencode` (the relay's), else on $FOREMAN_OPENCODE_URL."""
    from tools.opencode import OpenCodeClient
    from tools.orchestrator import DEFAULT_REGENERABLE, Orchestrator

    regenerable = config.builders.regenerable
    return Orchestrator(
        workspace,
        opencode if opencode is not None else OpenCodeClient.from_env(),
        regenerable=DEFAULT_REGENERABLE if regenerable is None else regenerable,
        archive_dir=store.path.parent / "archives",
        archive_retention_days=config.builders.archive_days,
    )


def build_services(
    config: GatewayConfig, store: Store, principals: PrincipalKeys, *, model: Any = None
) -> Services:
    """The assistant, and the relay when `opencode.url` is set."""
    from assistant.dm import DirectMessages
    from tools.workspace import WorkspaceNotFound, find_workspace

    from_env = bool(os.environ.get("FOREMAN_WORKSPACE"))
    try:
        # FOREMAN_WORKSPACE is read by find_workspace itself, so its errors name the variable
        workspace = find_workspace(None if from_env else config.workspace)
    except WorkspaceNotFound as exc:
        message = str(exc).replace("--workspace ", "workspace ", 1)
        raise ConfigError(message, path=None if from_env else config.path) from None
    client = None
    if config.opencode.url:
        from tools.opencode import OpenCodeClient

        opencode = config.opencode
        client = OpenCodeClient(opencode.url, opencode.password, opencode.username)
    # the router already admits only principals; the service checks the same live set again
    assistant = DirectMessages(
        store,
        workspace,
        model or config.model,
        principals,  # type: ignore[arg-type]
        orchestrator=builder_orchestrator(config, store, workspace, client),
    )
    services = Services(workspace, assistant)
    if client is None:
        return services
    from assistant.relay import Relay
    from assistant.turn_changes import watch_turn_changes

    # the live set, not a copy: someone paired while `foreman serve` runs may /allow at once
    try:
        services.relay = Relay(
            store, client, workspace, principals=principals, projects=services.projects
        )
    except ValueError as exc:  # FOREMAN_RETRY_LIMIT or FOREMAN_STATUS_SECONDS: names which
        raise ConfigError(str(exc)) from None
    services.relay.budget_requests = budget_cards(assistant)
    watch_turn_changes(services.relay, workspace.root)
    services.closers.append(client.aclose)
    return services


def budget_cards(assistant: Any) -> Callable[..., Awaitable[list[Any]]]:
    """How `/budget` in a builder's chat asks: a card in the principal's direct chat, decided
    there like any other (`assistant` is the DirectMessages service holding the desk)."""
    from assistant.approvals import ActionInvalid, card_message
    from assistant.messages import ChatRef, Outbound, Principal

    async def request(
        principal: Principal, chat: ChatRef, builder: str, usd: float | None
    ) -> list[Outbound]:
        direct = ChatRef(principal.platform, principal.user_id)
        try:
            approval = await assistant.desk.request(
                principal, direct, "set_builder_budget", {"name": builder, "usd": usd}
            )
        except ActionInvalid as exc:
            return [Outbound(chat=chat, text=f"Cannot propose that: {exc}", kind="error")]
        said = f"Approval {approval.id} for {builder}'s budget is in your direct chat with me."
        return [card_message(approval), Outbound(chat=chat, text=said)]

    return request


def declared_projects(projectlist: Path) -> list[Any]:
    """The projects (with their chat bindings) as the file says now; none if it is unreadable."""
    from tools.projectlist import ProjectListError, load

    try:
        return list(load(projectlist, strict=False).projects)
    except ProjectListError as exc:
        log.warning("project list unreadable, using stored bindings only: %s", exc)
        return []

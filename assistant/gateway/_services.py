"""Building the assistant and the relay that `foreman serve` routes to."""

from __future__ import annotations

import logging

from assistant.gateway._config import GatewayConfig
from assistant.gateway._router import AssistantPort, RelayPort
from assistant.store import Store

log = logging.getLogger("foreman.gateway")


def build_services(
    config: GatewayConfig, store: Store
) -> tuple[AssistantPort | None, RelayPort | None]:
    return _assistant(config, store), _relay(config, store)


def _assistant(config: GatewayConfig, store: Store) -> AssistantPort | None:
    try:
        from assistant.service import AssistantService  # type: ignore[import-not-found]
    except ImportError:
        log.warning("the assistant is not part of this build; DMs will go unanswered")
        return None
    return AssistantService(store=store, workspace=config.workspace, model=config.model)  # type: ignore[no-any-return]


def _relay(config: GatewayConfig, store: Store) -> RelayPort | None:
    try:
        from assistant.relay import Relay  # type: ignore[import-not-found]
    except ImportError:
        log.warning("the relay is not part of this build; bound groups are ignored")
        return None
    return Relay(store=store, base_url=config.opencode.url)  # type: ignore[no-any-return]

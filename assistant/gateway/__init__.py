"""The gateway: configuration, routing, pairing and the `foreman serve` runtime."""

from assistant.gateway._assembly import (
    allow_list,
    build_channels,
    build_gateway,
    build_serve_gateway,
    pairing_for,
    principal_keys,
)
from assistant.gateway._cards import CardEdits
from assistant.gateway._config import (
    ConfigError,
    GatewayConfig,
    OpenCodeConfig,
    PairingConfig,
    TelegramConfig,
    WhatsAppConfig,
    default_config_path,
    load_config,
    normalise_whatsapp_id,
)
from assistant.gateway._doctor import ChannelCheck, check_channels, served_health
from assistant.gateway._gateway import FAILED, DeliveryError, Gateway, RelayRunner
from assistant.gateway._groups import WhatsAppGroups
from assistant.gateway._health import Health, HealthWriter, health_path, read_health
from assistant.gateway._mcp import mcp_job
from assistant.gateway._media import Media, file_words, max_attachment_bytes, workspace_vocabulary
from assistant.gateway._opencode import managed_server, tell_bound_chats
from assistant.gateway._pairing import Pairing, PairingCode, PairingError
from assistant.gateway._router import (
    NO_FILES,
    NOT_YOURS,
    AllowList,
    AssistantPort,
    PrincipalKeys,
    RelayPort,
    Route,
    Router,
)
from assistant.gateway._services import (
    Services,
    budget_cards,
    build_services,
    declared_projects,
)
from assistant.gateway._topics import ForumTopics, Topic, closing_summary, first_message

__all__ = [
    "FAILED",
    "NOT_YOURS",
    "NO_FILES",
    "AllowList",
    "AssistantPort",
    "CardEdits",
    "ChannelCheck",
    "ConfigError",
    "DeliveryError",
    "ForumTopics",
    "Gateway",
    "GatewayConfig",
    "Health",
    "HealthWriter",
    "Media",
    "OpenCodeConfig",
    "Pairing",
    "PairingCode",
    "PairingConfig",
    "PairingError",
    "PrincipalKeys",
    "RelayPort",
    "RelayRunner",
    "Route",
    "Router",
    "Services",
    "TelegramConfig",
    "Topic",
    "WhatsAppConfig",
    "WhatsAppGroups",
    "allow_list",
    "budget_cards",
    "build_channels",
    "build_gateway",
    "build_serve_gateway",
    "build_services",
    "check_channels",
    "closing_summary",
    "declared_projects",
    "default_config_path",
    "file_words",
    "first_message",
    "health_path",
    "load_config",
    "managed_server",
    "max_attachment_bytes",
    "mcp_job",
    "normalise_whatsapp_id",
    "pairing_for",
    "principal_keys",
    "read_health",
    "served_health",
    "tell_bound_chats",
    "workspace_vocabulary",
]

"""The gateway's configuration: one TOML file plus environment overrides for every secret."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_TELEGRAM_BASE_URL = "https://api.telegram.org/bot"
WHATSAPP_USER_SERVER = "s.whatsapp.net"


class ConfigError(ValueError):
    """A configuration value is missing or wrong; names the key and where it was set."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class TelegramConfig:
    token: str
    base_url: str = DEFAULT_TELEGRAM_BASE_URL
    allowed_users: tuple[str, ...] = ()
    # polling by default; a webhook needs a public URL Telegram can reach
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    poll_timeout: int = 10


@dataclass(frozen=True)
class WhatsAppConfig:
    db: Path
    allowed: tuple[str, ...] = ()  # normalised JIDs (user@s.whatsapp.net)
    watchdog_seconds: float = 30.0


@dataclass(frozen=True)
class PairingConfig:
    enabled: bool = False
    ttl_minutes: int = 60
    max_pending: int = 5


@dataclass(frozen=True)
class OpenCodeConfig:
    url: str | None = None
    password: str | None = field(default=None, repr=False)
    username: str = "opencode"
    # no url: `foreman serve` runs its own `opencode serve` when it finds the binary
    manage: bool = True


@dataclass(frozen=True)
class MCPConfig:
    """The MCP server inside `foreman serve`: off unless `http` (HOST:PORT) is set."""

    http: str | None = None
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BuildersConfig:
    """`[builders]`: ignored paths that never block a terminate, and how long archives stay."""

    regenerable: tuple[str, ...] | None = None  # None: the orchestrator's default list
    archive_days: int = 30


@dataclass(frozen=True)
class GatewayConfig:
    """Everything `foreman serve` needs; secrets are never printed (repr hides them)."""

    path: Path | None = None
    workspace: Path | None = None
    model: str | None = None
    state_dir: Path | None = None
    telegram: TelegramConfig | None = None
    whatsapp: WhatsAppConfig | None = None
    pairing: PairingConfig = PairingConfig()
    opencode: OpenCodeConfig = OpenCodeConfig()
    mcp: MCPConfig = MCPConfig()
    builders: BuildersConfig = BuildersConfig()

    def __repr__(self) -> str:  # tokens must not reach logs through a stray repr
        channels = [name for name in ("telegram", "whatsapp") if getattr(self, name)]
        return f"GatewayConfig(path={self.path}, channels={channels})"


def normalise_whatsapp_id(value: str) -> str:
    """A phone number (`+49 170 1234567`) or a JID, as the JID WhatsApp reports for that user."""
    value = value.strip()
    if "@" in value:
        user, server = value.rsplit("@", 1)
        # a device suffix (`49170…:12@s.whatsapp.net`) names one phone of the same user
        return f"{user.split(':', 1)[0]}@{server}"
    digits = re.sub(r"[\s\-().]", "", value).removeprefix("+")
    if not digits.isdigit():
        raise ValueError(f"{value!r} is neither a phone number nor a WhatsApp JID")
    return f"{digits}@{WHATSAPP_USER_SERVER}"


def default_config_path() -> Path | None:
    """`$FOREMAN_CONFIG`, else `foreman.toml` in the current directory if it exists."""
    configured = os.environ.get("FOREMAN_CONFIG")
    if configured:
        return Path(configured).expanduser()
    local = Path("foreman.toml")
    return local if local.is_file() else None


# section -> allowed keys; anything else is a typo worth reporting
_KEYS: dict[str, set[str]] = {
    "": {
        "workspace",
        "model",
        "state_dir",
        "telegram",
        "whatsapp",
        "pairing",
        "opencode",
        "mcp",
        "builders",
    },
    "telegram": {
        "token",
        "base_url",
        "allowed_users",
        "webhook_url",
        "webhook_listen",
        "webhook_port",
        "poll_timeout",
    },
    "whatsapp": {"db", "allowed", "watchdog_seconds"},
    "pairing": {"enabled", "ttl_minutes", "max_pending"},
    "opencode": {"url", "password", "username", "manage"},
    "mcp": {"http", "token"},
    "builders": {"regenerable", "archive_days"},
}


class _Reader:
    """Reads typed values out of the parsed file, reporting errors at the key's line."""

    def __init__(self, path: Path | None, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, section: str, key: str) -> int | None:
        current = ""
        for number, raw in enumerate(self.lines, start=1):
            stripped = raw.strip()
            header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", stripped)
            if header:
                current = header.group(1)
                continue
            if current == section and re.match(rf"{re.escape(key)}\s*=", stripped):
                return number
        return None

    def fail(self, section: str, key: str, message: str) -> ConfigError:
        name = f"{section}.{key}" if section else key
        return ConfigError(f"{name}: {message}", path=self.path, line=self.line_of(section, key))

    def check_keys(self, section: str, table: Mapping[str, Any]) -> None:
        for key in table:
            if key not in _KEYS[section]:
                known = ", ".join(sorted(_KEYS[section]))
                raise self.fail(section, key, f"unknown key (known keys: {known})")

    def string(self, section: str, table: Mapping[str, Any], key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(section, key, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def integer(self, section: str, table: Mapping[str, Any], key: str, default: int) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(section, key, f"must be a positive integer, got {value!r}")
        return value

    def number(self, section: str, table: Mapping[str, Any], key: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(section, key, f"must be a positive number, got {value!r}")
        return float(value)

    def boolean(self, section: str, table: Mapping[str, Any], key: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(section, key, f"must be true or false, got {value!r}")
        return value

    def string_list(self, section: str, table: Mapping[str, Any], key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise self.fail(section, key, f"must be a list of strings or numbers, got {value!r}")
        return [str(v) for v in value]

    def table(self, data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail("", key, f"must be a [{key}] table, got {value!r}")
        self.check_keys(key, value)
        return value


def _env_list(name: str, env: Mapping[str, str]) -> list[str] | None:
    raw = env.get(name)
    if raw is None:
        return None
    return [item.strip() for item in raw.split(",") if item.strip()]


def _env_bool(name: str, env: Mapping[str, str]) -> bool | None:
    raw = env.get(name)
    if raw is None:
        return None
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "on", "yes"}:
        return True
    if lowered in {"0", "false", "off", "no", ""}:
        return False
    raise ConfigError(f"{name}={raw!r}: expected on or off")


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read `path` (TOML) if given, then let the environment override every setting it names."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    text = ""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("config file not found", path=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file: {exc}", path=path) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"at line (\d+)", str(exc))
            raise ConfigError(
                f"not valid TOML: {exc}", path=path, line=int(match.group(1)) if match else None
            ) from None
    reader = _Reader(path, text)
    reader.check_keys("", data)
    base = path.parent if path is not None else Path.cwd()

    def resolve(value: str | None) -> Path | None:
        if value is None:
            return None
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else base / candidate

    workspace = env.get("FOREMAN_WORKSPACE") or reader.string("", data, "workspace")
    model = env.get("FOREMAN_MODEL") or reader.string("", data, "model")
    state_dir = env.get("FOREMAN_STATE_DIR") or reader.string("", data, "state_dir")

    return GatewayConfig(
        path=path,
        workspace=resolve(workspace),
        model=model,
        state_dir=resolve(state_dir),
        telegram=_telegram(reader, reader.table(data, "telegram"), env),
        whatsapp=_whatsapp(reader, reader.table(data, "whatsapp"), env, resolve),
        pairing=_pairing(reader, reader.table(data, "pairing") or {}, env),
        opencode=_opencode(reader, reader.table(data, "opencode") or {}, env),
        mcp=_mcp(reader, reader.table(data, "mcp") or {}, env),
        builders=_builders(reader, reader.table(data, "builders") or {}),
    )


def _builders(reader: _Reader, table: dict[str, Any]) -> BuildersConfig:
    regenerable = None
    if "regenerable" in table:
        regenerable = tuple(reader.string_list("builders", table, "regenerable"))
    return BuildersConfig(
        regenerable=regenerable,
        archive_days=reader.integer("builders", table, "archive_days", 30),
    )


def _telegram(
    reader: _Reader, table: dict[str, Any] | None, env: Mapping[str, str]
) -> TelegramConfig | None:
    table = table or {}
    token = env.get("FOREMAN_TELEGRAM_TOKEN") or reader.string("telegram", table, "token")
    if not token:
        if table:
            raise reader.fail(
                "telegram", "token", "missing (set it here or in FOREMAN_TELEGRAM_TOKEN)"
            )
        return None
    allowed = _env_list("FOREMAN_TELEGRAM_ALLOWED_USERS", env)
    source = "FOREMAN_TELEGRAM_ALLOWED_USERS"
    if allowed is None:
        allowed = reader.string_list("telegram", table, "allowed_users")
        source = ""
    for user in allowed:
        if not user.lstrip("-").isdigit():
            message = f"{user!r} is not a numeric Telegram user id"
            if source:
                raise ConfigError(f"{source}: {message}")
            raise reader.fail("telegram", "allowed_users", message)
    base_url = (
        env.get("FOREMAN_TELEGRAM_BASE_URL")
        or reader.string("telegram", table, "base_url")
        or DEFAULT_TELEGRAM_BASE_URL
    )
    return TelegramConfig(
        token=token,
        base_url=base_url,
        allowed_users=tuple(allowed),
        webhook_url=reader.string("telegram", table, "webhook_url"),
        webhook_listen=reader.string("telegram", table, "webhook_listen") or "127.0.0.1",
        webhook_port=reader.integer("telegram", table, "webhook_port", 8443),
        poll_timeout=reader.integer("telegram", table, "poll_timeout", 10),
    )


def _whatsapp(
    reader: _Reader, table: dict[str, Any] | None, env: Mapping[str, str], resolve: Any
) -> WhatsAppConfig | None:
    table = table or {}
    db = env.get("FOREMAN_WHATSAPP_DB") or reader.string("whatsapp", table, "db")
    if not db:
        if table:
            raise reader.fail("whatsapp", "db", "missing (set it here or in FOREMAN_WHATSAPP_DB)")
        return None
    allowed = _env_list("FOREMAN_WHATSAPP_ALLOWED", env)
    from_env = allowed is not None
    if allowed is None:
        allowed = reader.string_list("whatsapp", table, "allowed")
    normalised = []
    for item in allowed:
        try:
            normalised.append(normalise_whatsapp_id(item))
        except ValueError as exc:
            if from_env:
                raise ConfigError(f"FOREMAN_WHATSAPP_ALLOWED: {exc}") from None
            raise reader.fail("whatsapp", "allowed", str(exc)) from None
    return WhatsAppConfig(
        db=resolve(db),
        allowed=tuple(normalised),
        watchdog_seconds=reader.number("whatsapp", table, "watchdog_seconds", 30.0),
    )


def _pairing(reader: _Reader, table: dict[str, Any], env: Mapping[str, str]) -> PairingConfig:
    enabled = _env_bool("FOREMAN_PAIRING", env)
    if enabled is None:
        enabled = reader.boolean("pairing", table, "enabled", False)
    return PairingConfig(
        enabled=enabled,
        ttl_minutes=reader.integer("pairing", table, "ttl_minutes", 60),
        max_pending=reader.integer("pairing", table, "max_pending", 5),
    )


def _opencode(reader: _Reader, table: dict[str, Any], env: Mapping[str, str]) -> OpenCodeConfig:
    manage = _env_bool("FOREMAN_OPENCODE_MANAGE", env)
    if manage is None:
        manage = reader.boolean("opencode", table, "manage", True)
    return OpenCodeConfig(
        url=env.get("FOREMAN_OPENCODE_URL") or reader.string("opencode", table, "url"),
        password=env.get("FOREMAN_OPENCODE_PASSWORD")
        or env.get("OPENCODE_SERVER_PASSWORD")
        or reader.string("opencode", table, "password"),
        username=env.get("FOREMAN_OPENCODE_USERNAME")
        or env.get("OPENCODE_SERVER_USERNAME")
        or reader.string("opencode", table, "username")
        or "opencode",
        manage=manage,
    )


def _mcp(reader: _Reader, table: dict[str, Any], env: Mapping[str, str]) -> MCPConfig:
    http = env.get("FOREMAN_MCP_HTTP") or reader.string("mcp", table, "http")
    token = env.get("FOREMAN_MCP_TOKEN") or reader.string("mcp", table, "token")
    if http and not token:
        if env.get("FOREMAN_MCP_HTTP"):
            raise ConfigError("FOREMAN_MCP_HTTP is set but no bearer token: set FOREMAN_MCP_TOKEN")
        raise reader.fail("mcp", "http", "needs a bearer token: set FOREMAN_MCP_TOKEN or token")
    return MCPConfig(http=http, token=token)

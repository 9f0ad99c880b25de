from __future__ import annotations

from pathlib import Path

import pytest
from inline_snapshot import snapshot

from assistant.gateway import ConfigError, load_config, normalise_whatsapp_id

GOOD = """\
model = "anthropic:claude-sonnet-4-5"
workspace = "work"

[telegram]
token = "111:file-token"
allowed_users = [42, "43"]

[whatsapp]
db = "wa/session.db"
allowed = ["+49 170 1234567", "4915100000@s.whatsapp.net"]

[pairing]
enabled = true
ttl_minutes = 10
max_pending = 2

[opencode]
url = "http://127.0.0.1:4096"
password = "file-secret"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "foreman.toml"
    path.write_text(text)
    return path


def test_a_full_file_is_read_into_typed_settings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={})
    assert config.telegram is not None and config.whatsapp is not None
    assert config.telegram.token == "111:file-token"
    assert config.telegram.base_url == "https://api.telegram.org/bot"
    assert config.telegram.allowed_users == ("42", "43")
    # relative paths are relative to the config file, not to where `foreman` was started
    assert config.whatsapp.db == tmp_path / "wa" / "session.db"
    assert config.workspace == tmp_path / "work"
    assert config.whatsapp.allowed == ("491701234567@s.whatsapp.net", "4915100000@s.whatsapp.net")
    assert (config.pairing.enabled, config.pairing.ttl_minutes, config.pairing.max_pending) == (
        True,
        10,
        2,
    )
    assert config.opencode.password == "file-secret"


def test_every_secret_and_list_can_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "FOREMAN_TELEGRAM_TOKEN": "222:env-token",
        "FOREMAN_TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",
        "FOREMAN_TELEGRAM_ALLOWED_USERS": "7, 8",
        "FOREMAN_WHATSAPP_DB": str(tmp_path / "env.db"),
        "FOREMAN_WHATSAPP_ALLOWED": "+1 (555) 010-0000",
        "FOREMAN_PAIRING": "off",
        "FOREMAN_OPENCODE_PASSWORD": "env-secret",
        "FOREMAN_OPENCODE_USERNAME": "env-user",
        "FOREMAN_MODEL": "test",
    }
    config = load_config(write(tmp_path, GOOD), env=env)
    assert config.telegram is not None and config.whatsapp is not None
    assert config.telegram.token == "222:env-token"
    assert config.telegram.base_url == "http://127.0.0.1:9/bot"
    assert config.telegram.allowed_users == ("7", "8")
    assert config.whatsapp.db == tmp_path / "env.db"
    assert config.whatsapp.allowed == ("15550100000@s.whatsapp.net",)
    assert config.pairing.enabled is False
    assert config.opencode.password == "env-secret"
    assert config.opencode.username == "env-user"
    assert config.model == "test"


def test_no_file_and_env_only_configures_telegram_alone() -> None:
    config = load_config(None, env={"FOREMAN_TELEGRAM_TOKEN": "1:x"})
    assert config.telegram is not None and config.whatsapp is None
    assert config.telegram.allowed_users == ()


def test_secrets_never_show_in_the_config_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), env={})
    assert "file-token" not in repr(config)
    assert "file-secret" not in repr(config)
    assert "file-secret" not in repr(config.opencode)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[telegram]\ntoken = "1:x"\nallowed_users = ["@ada"]\n',
            snapshot(
                "foreman.toml:3: telegram.allowed_users: '@ada' is not a numeric Telegram user id"
            ),
        ),
        (
            '[telegram]\ntoken = "1:x"\npoll_timout = 5\n',
            snapshot(
                "foreman.toml:3: telegram.poll_timout: unknown key (known keys: allowed_users, base_url, poll_timeout, token, webhook_listen, webhook_port, webhook_url)"
            ),
        ),
        (
            '[pairing]\nenabled = "yes"\n',
            snapshot("foreman.toml:2: pairing.enabled: must be true or false, got 'yes'"),
        ),
        (
            "[telegram]\nallowed_users = [1]\n",
            snapshot(
                "foreman.toml: telegram.token: missing (set it here or in FOREMAN_TELEGRAM_TOKEN)"
            ),
        ),
        (
            'model = "x"\n\n[whatsapp]\ndb = "a.db"\nallowed = ["not a number"]\n',
            snapshot(
                "foreman.toml:5: whatsapp.allowed: 'not a number' is neither a phone number nor a WhatsApp JID"
            ),
        ),
        (
            '[telegram]\ntoken = = "1"\n',
            snapshot("foreman.toml:2: not valid TOML: Invalid value (at line 2, column 9)"),
        ),
        (
            '[mcp]\nhttp = "127.0.0.1:8765"\n',
            snapshot(
                "foreman.toml:2: mcp.http: needs a bearer token: set FOREMAN_MCP_TOKEN or token"
            ),
        ),
        ("telegram = 5\n", snapshot("foreman.toml:1: telegram: must be a [telegram] table, got 5")),
        (
            '[builders]\nregenerable = "node_modules/"\n',
            snapshot(
                "foreman.toml:2: builders.regenerable: must be a list of strings or numbers, got 'node_modules/'"
            ),
        ),
    ],
)
def test_bad_config_names_the_key_and_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(caught.value).replace(str(tmp_path) + "/", "") == message


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="FOREMAN_TELEGRAM_ALLOWED_USERS: 'ada'"):
        load_config(
            None, env={"FOREMAN_TELEGRAM_TOKEN": "1:x", "FOREMAN_TELEGRAM_ALLOWED_USERS": "ada"}
        )
    with pytest.raises(ConfigError, match="FOREMAN_PAIRING='maybe': expected on or off"):
        load_config(None, env={"FOREMAN_PAIRING": "maybe"})


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_whatsapp_ids_are_normalised_to_the_jid_whatsapp_reports() -> None:
    assert normalise_whatsapp_id("+49 (170) 123-4567") == "491701234567@s.whatsapp.net"
    assert normalise_whatsapp_id("491701234567:12@s.whatsapp.net") == "491701234567@s.whatsapp.net"
    assert normalise_whatsapp_id("12345@lid") == "12345@lid"


def test_serve_terminates_builders_with_the_builders_settings(tmp_path: Path) -> None:
    """`[builders]` reaches the assistant `foreman serve` runs; archives sit beside its state."""
    from assistant.gateway import build_services, principal_keys
    from assistant.store import open_store
    from tools.orchestrator import make_demo_workspace

    workspace = make_demo_workspace(tmp_path / "ws")
    text = (
        f'workspace = "{workspace.root}"\n[builders]\nregenerable = ["*.log"]\narchive_days = 7\n'
    )
    config = load_config(write(tmp_path, text), env={})
    store = open_store(tmp_path / "state")

    services = build_services(config, store, principal_keys(config, store), model="test")

    orchestrator = services.assistant.orchestrator
    assert orchestrator.regenerable == ("*.log",)
    assert orchestrator.archive_dir == tmp_path / "state" / "archives"
    assert orchestrator.archive_retention_days == 7

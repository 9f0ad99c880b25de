"""`foreman setup`, driven through stdin as a user types it, against the fake Bot API."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import httpx
import neonize.aioze.client
import pytest
from click.testing import CliRunner, Result
from inline_snapshot import snapshot
from pydantic_ai import models

from assistant.cli import cli
from assistant.gateway import load_config
from tests.channels.fake_neonize import FakeWhatsmeow
from tests.channels.fake_telegram import FakeTelegram
from tests.opencode_server import FakeLLM, HttpError, Text
from tests.workspaces import ai_workspace

EMPTY_LIST = "# Projects\n\n```yaml\nprojects: []\n```\n"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_telegram: FakeTelegram) -> Path:
    root = ai_workspace(tmp_path / "ws", EMPTY_LIST)
    monkeypatch.chdir(root)
    monkeypatch.setenv("FOREMAN_TELEGRAM_BASE_URL", fake_telegram.base_url)
    monkeypatch.delenv("FOREMAN_TELEGRAM_TOKEN", raising=False)
    return root


def setup(*args: str, input: str = "") -> Result:
    return CliRunner().invoke(cli, ["setup", *args], input=input)


def dm_when_polled(fake: FakeTelegram, user_id: int, text: str) -> threading.Thread:
    """The user's first DM, sent once setup is waiting for it (as a person would)."""

    def send() -> None:
        fake.wait_until_polled()
        fake.dm(user_id, text)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_the_guided_flow_links_the_bot_and_allow_lists_whoever_dms_it(
    workspace: Path, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.dm(666, "an old message, sent before setup ran")
    dm_when_polled(fake_telegram, 42, "hi")
    typed = "n\n" + "y\n" + f"{fake_telegram.token}\n" + "y\n" + "n\n" + "n\n"
    result = setup(input=typed)
    assert result.exit_code == 0, result.output
    assert result.stdout.replace(str(workspace), "<ws>") == snapshot("""\
Foreman setup writes foreman.toml. Each step can be skipped, or run alone later: foreman setup model|telegram|whatsapp|opencode.

model: the model the assistant thinks with, and its key
Set up model now? [Y/n]: n
model: skipped; later: foreman setup model

telegram: a Telegram bot you DM
Set up telegram now? [Y/n]: y
Create a bot with @BotFather in Telegram (/newbot) if you have none; it gives a token.
Bot token from @BotFather (input hidden): \n\
Token accepted: this is @foreman_test_bot (Foreman).
Now send any message to @foreman_test_bot from your own Telegram account (https://t.me/foreman_test_bot); waiting up to 300 s…
Message from Ada (@ada), user id 42.
Allow Ada to DM the assistant? [Y/n]: y
Telegram: @foreman_test_bot, allow-listed user id(s) 42.

whatsapp: WhatsApp, as a linked device of your phone
Set up whatsapp now? [Y/n]: n
whatsapp: skipped; later: foreman setup whatsapp

opencode: OpenCode, the coding agent builders run in
Set up opencode now? [Y/n]: n
opencode: skipped; later: foreman setup opencode

Wrote foreman.toml (mode 0600: it holds tokens).
Next: `foreman serve` runs the gateway here; `foreman service install` runs it in the background, restarted on failure.
""")
    assert fake_telegram.token not in result.output
    # the first message is answered, so the user sees it worked on their phone
    reply = fake_telegram.wait_for("sendMessage")
    assert reply["chat_id"] in (42, "42") and "user id 42" in reply["text"]
    # and acknowledged: the gateway starting next does not see it again
    leftover = httpx.post(f"{fake_telegram.base_url}{fake_telegram.token}/getUpdates").json()
    assert leftover == {"ok": True, "result": []}

    path = workspace / "foreman.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load_config(path, env={})
    assert config.telegram is not None
    assert config.telegram.token == fake_telegram.token
    assert config.telegram.allowed_users == ("42",)
    assert config.workspace == workspace


def test_a_wrong_token_is_one_clear_line_and_nothing_is_written(
    workspace: Path, fake_telegram: FakeTelegram
) -> None:
    result = setup("telegram", input="999:WRONG-TOKEN\n")
    assert result.exit_code == 1
    assert result.stderr == snapshot(
        "Error: telegram: the Bot API refused that token; copy it again from @BotFather (/mybots → your bot → API Token)\n"
    )
    assert "WRONG" not in result.output
    result = setup("telegram", "--telegram-token", "not a token")
    assert result.exit_code == 1
    assert result.stderr == snapshot(
        "Error: telegram: that is not a bot token (it looks like 123456789:AAH…, digits, a colon and a secret); copy it again from @BotFather (/mybots → your bot → API Token)\n"
    )
    assert fake_telegram.sent() == []
    toml = workspace / "foreman.toml"
    assert not toml.exists() or "telegram" not in toml.read_text()


def test_a_script_passes_the_answers_as_options(
    workspace: Path, fake_telegram: FakeTelegram
) -> None:
    existing = workspace / "foreman.toml"
    existing.write_text("# my settings\n[pairing]\nenabled = true   # strangers get a code\n")
    result = setup(
        "--yes",
        "--telegram-token",
        fake_telegram.token,
        "--telegram-user",
        "7",
        "--skip",
        "model",
        "--opencode-url",
        "http://127.0.0.1:9",
    )
    assert result.exit_code == 0, result.output
    assert "whatsapp: skipped (a QR code needs someone to scan it)" in result.stdout
    text = existing.read_text()
    # what the user wrote by hand stays, comments included
    assert text.startswith("# my settings\n")
    assert "[pairing]\nenabled = true   # strangers get a code\n" in text
    config = load_config(existing, env={})
    assert config.pairing.enabled
    assert config.telegram is not None and config.telegram.allowed_users == ("7",)
    assert config.opencode.url == "http://127.0.0.1:9"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600


def test_unattended_model_step_without_a_key_says_which_option(workspace: Path) -> None:
    result = setup("model", "--yes", "--model", "anthropic:claude-sonnet-4-5")
    assert result.exit_code == 1
    assert result.stderr == snapshot("Error: model: needs --model-key with --yes\n")


def test_model_step_refuses_a_key_of_the_wrong_shape(workspace: Path) -> None:
    result = setup("model", input="anthropic:claude-sonnet-4-5\n" + "123456:telegram-token\n")
    assert result.exit_code == 1
    assert result.stderr == snapshot(
        "Error: model: that is not an Anthropic key (they start with sk-ant-); paste it again\n"
    )
    assert not (workspace / "foreman.env").exists()


def test_model_step_stores_the_model_and_its_key_for_the_service(workspace: Path) -> None:
    key = "sk-ant-api03-" + "x" * 40
    result = setup("model", input=f"anthropic:claude-haiku-4-5\n{key}\n")
    assert result.exit_code == 0, result.output
    assert key not in result.output
    env_file = workspace / "foreman.env"
    assert env_file.read_text() == f"ANTHROPIC_API_KEY={key}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert load_config(workspace / "foreman.toml", env={}).model == "anthropic:claude-haiku-4-5"


def test_model_check_sends_one_minimal_request(
    workspace: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fake model server on 127.0.0.1 is the only model this test may reach
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url)
    fake_llm.script(Text("OK"))
    key = "sk-test-" + "k" * 32
    result = setup("model", "--model", "openai-chat:gpt-test", "--model-key", key, "--check")
    assert result.exit_code == 0, result.output
    assert "openai-chat:gpt-test answered: 'OK'" in result.stdout
    assert len(fake_llm.requests) == 1

    fake_llm.script(HttpError(401, "invalid api key"))
    result = setup("model", "--model", "openai-chat:gpt-test", "--model-key", key, "--check")
    assert result.exit_code == 1
    assert result.stderr == snapshot(
        "Error: model: The model provider refused the key in OPENAI_API_KEY (401). Check or replace it, then try again.\n"
    )


def test_whatsapp_step_runs_the_login_and_stores_the_session_and_number(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # neonize's Go library is the one boundary faked (a live account needs a phone to scan)
    go = FakeWhatsmeow(qr_seconds=0.2)
    go.scans_as = "491701234567@s.whatsapp.net"
    monkeypatch.setattr(neonize.aioze.client, "gocode", go)
    try:
        result = setup("whatsapp", input="\n")
    finally:
        go.close()
    assert result.exit_code == 0, result.output
    assert "Scan this with WhatsApp" in result.stdout
    assert "Linked 491701234567@s.whatsapp.net." in result.stdout
    config = load_config(workspace / "foreman.toml", env={})
    assert config.whatsapp is not None
    assert config.whatsapp.db == tmp_path / "state" / "whatsapp.db"
    assert config.whatsapp.allowed == ("491701234567@s.whatsapp.net",)


def test_no_dm_within_the_wait_says_how_to_go_on(
    workspace: Path, fake_telegram: FakeTelegram
) -> None:
    result = setup("telegram", "--telegram-token", fake_telegram.token, "--wait", "1")
    assert result.exit_code == 1
    assert result.stderr == snapshot(
        "Error: telegram: no message reached @foreman_test_bot within 1 s; run `foreman setup telegram` again, or pass --telegram-user ID\n"
    )
    assert (
        not (workspace / "foreman.toml").exists()
        or "[telegram]" not in (workspace / "foreman.toml").read_text()
    )

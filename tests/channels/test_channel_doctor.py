from __future__ import annotations

from pathlib import Path

from inline_snapshot import snapshot

from assistant.gateway import check_channels, load_config
from tests.channels.fake_telegram import FakeTelegram


def test_a_working_telegram_bot_and_a_missing_whatsapp_session(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    config = load_config(
        None,
        env={
            "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
            "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
            "FOREMAN_TELEGRAM_ALLOWED_USERS": "42",
            "FOREMAN_WHATSAPP_DB": str(tmp_path / "wa.db"),
        },
    )
    lines = [str(c).replace(str(tmp_path), "DIR") for c in check_channels(config)]
    assert lines == snapshot(
        [
            "ok   telegram: bot @foreman_test_bot, long polling",
            "ok   telegram users: 1 allow-listed",
            "fail whatsapp session: no session at DIR/wa.db: run `foreman whatsapp login`",
            "warn whatsapp users: nobody allow-listed (FOREMAN_WHATSAPP_ALLOWED): every DM is ignored",
        ]
    )


def test_a_refused_token_and_an_unreachable_server_never_show_the_token(
    fake_telegram: FakeTelegram,
) -> None:
    wrong = load_config(
        None,
        env={
            "FOREMAN_TELEGRAM_TOKEN": "999:WRONG",
            "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        },
    )
    assert str(check_channels(wrong)[0]) == snapshot("fail telegram: token refused: Not Found")
    down = load_config(
        None,
        env={
            "FOREMAN_TELEGRAM_TOKEN": "999:WRONG",
            "FOREMAN_TELEGRAM_BASE_URL": "http://127.0.0.1:9/bot",
        },
    )
    line = str(check_channels(down, timeout=2)[0])
    assert line == snapshot("fail telegram: cannot reach 127.0.0.1: ConnectError")
    assert "WRONG" not in line


def test_foreman_doctor_lists_the_channel_checks(fake_telegram: FakeTelegram) -> None:
    import json

    from click.testing import CliRunner

    from assistant.cli import cli

    env = {
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": "",
    }
    result = CliRunner().invoke(cli, ["doctor", "--json"], env=env)
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert checks["config"]["detail"] == "no file; environment only"
    assert (checks["telegram"]["ok"], checks["telegram"]["detail"]) == (
        True,
        "bot @foreman_test_bot, long polling",
    )
    assert checks["telegram users"]["detail"].startswith("warning: nobody allow-listed")
    assert fake_telegram.token not in result.output


def test_foreman_doctor_fails_on_a_bad_config_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    config = tmp_path / "foreman.toml"
    config.write_text("[telegram]\ntoken = 5\n")
    result = CliRunner().invoke(cli, ["doctor"], env={"FOREMAN_CONFIG": str(config)})
    assert result.exit_code == 1
    assert "FAIL  config" in result.output
    assert f"{config}:2: telegram.token: must be a non-empty string, got 5" in result.output

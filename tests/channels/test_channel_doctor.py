from __future__ import annotations

from pathlib import Path

from inline_snapshot import snapshot

from assistant.channels.whatsapp_session import note_linked
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
            "fail whatsapp session: not linked: run `foreman whatsapp login` (DIR/wa.db)",
            "warn whatsapp users: nobody allow-listed (FOREMAN_WHATSAPP_ALLOWED): every DM is ignored",
        ]
    )


def test_the_whatsapp_session_is_read_from_its_store_not_its_file(tmp_path: Path) -> None:
    from tests.channels.fake_neonize import FakeWhatsmeow

    db = tmp_path / "wa" / "whatsapp.db"
    config = load_config(None, env={"FOREMAN_WHATSAPP_DB": str(db)})

    def session_line() -> str:
        [line] = [str(c) for c in check_channels(config) if "session" in c.name]
        return line.replace(str(tmp_path), "DIR")

    db.parent.mkdir(mode=0o700)
    FakeWhatsmeow.store_device(db, None)  # created by a link attempt that never finished
    db.chmod(0o600)
    assert session_line() == snapshot(
        "fail whatsapp session: not linked: run `foreman whatsapp login` (DIR/wa/whatsapp.db)"
    )
    FakeWhatsmeow.store_device(db, "491701234567:7@s.whatsapp.net")
    note_linked(db, "491701234567@s.whatsapp.net")
    assert session_line() == snapshot(
        "ok   whatsapp session: linked as 491701234567@s.whatsapp.net (DIR/wa/whatsapp.db)"
    )
    FakeWhatsmeow.store_device(db, None)  # whatsmeow deletes the device on a logout
    assert session_line() == snapshot(
        "fail whatsapp session: logged out (the device was unlinked from the phone, or WhatsApp ended it): run `foreman whatsapp login` to link again (DIR/wa/whatsapp.db)"
    )
    db.chmod(0o644)
    lines = [str(c).replace(str(tmp_path), "DIR") for c in check_channels(config)]
    assert (
        "warn whatsapp session access: readable by others: DIR/wa/whatsapp.db is mode 644, not 600"
        in lines
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
    assert str(check_channels(wrong)[0]) == snapshot("fail telegram: token refused: Unauthorized")
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

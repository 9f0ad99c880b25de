"""`foreman serve` and friends read foreman.env beside foreman.toml, as the service does."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.gateway import Pairing
from assistant.messages import Principal
from assistant.store import open_store

BOB = Principal("whatsapp", "4917000@s.whatsapp.net", "Bob")


def test_foreman_env_beside_the_config_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file = tmp_path / "from-file"
    from_env = tmp_path / "from-env"
    config = tmp_path / "foreman.toml"
    config.write_text("")
    (tmp_path / "foreman.env").write_text(
        f"# written by foreman setup\nexport FOREMAN_STATE_DIR='{from_file}'\n"
    )
    code = Pairing(open_store(from_file)).request(BOB)
    assert code is not None
    monkeypatch.delenv("FOREMAN_STATE_DIR")  # restored after the test

    listed = CliRunner().invoke(cli, ["pairing", "list", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith(f"{code.code}  whatsapp:4917000@s.whatsapp.net (Bob)")

    monkeypatch.setenv("FOREMAN_STATE_DIR", str(from_env))
    again = CliRunner().invoke(cli, ["pairing", "list", "--config", str(config)])
    assert again.output == "No pairing codes pending.\n"

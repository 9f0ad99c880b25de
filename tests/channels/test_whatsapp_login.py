"""`foreman whatsapp login`: linking as whatsmeow requires, on real neonize over a stand-in Go library."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.channels.whatsapp_login import LoginError, login
from assistant.channels.whatsapp_session import SessionState, read_session
from assistant.cli import cli
from tests.channels.fake_neonize import FakeWhatsmeow
from tests.channels.waiting import eventually

OWNER = "491701234567@s.whatsapp.net"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def go() -> Iterator[FakeWhatsmeow]:
    fake = FakeWhatsmeow()
    yield fake
    fake.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "whatsapp.db"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_qr_login_shows_the_qr_code_and_leaves_a_linked_private_session(
    go: FakeWhatsmeow, db: Path
) -> None:
    go.scans_as = OWNER
    shown: list[str] = []
    linked = await login(db, show=shown.append, timeout=10, library=go)
    assert (linked.account, linked.already) == (OWNER, False)
    assert shown[0].startswith("Scan this with WhatsApp > Settings > Linked devices")
    assert "█" in shown[0] or "▀" in shown[0]  # drawn as a QR code, not printed as text
    assert "2@ref0" not in shown[0]
    assert read_session(db).state is SessionState.LINKED
    assert (mode(db), mode(db.parent)) == (0o600, 0o700)
    assert go.stops >= 1 and go.clients == {}  # the client was stopped


async def test_a_pair_code_is_asked_for_only_once_whatsapp_showed_the_first_qr(
    go: FakeWhatsmeow, db: Path
) -> None:
    # the fake refuses PairPhone before the Go client exists or before its first QR code,
    # as whatsmeow does: asking right after connect() would fail
    go.enters_code_as = OWNER
    shown: list[str] = []
    linked = await login(db, phone="+49 170 1234567", show=shown.append, timeout=10, library=go)
    assert linked.account == OWNER
    assert go.pair_phones == ["491701234567"]
    assert shown == [
        "On your phone: WhatsApp > Settings > Linked devices > Link a device > "
        "Link with phone number instead, and enter ABCD-EFGH"
    ]  # and no QR code printed meanwhile


async def test_a_pairing_refused_by_whatsapp_is_a_failure_with_its_reason(
    go: FakeWhatsmeow, db: Path
) -> None:
    go.refuses_with = "too many linked devices"
    with pytest.raises(LoginError, match=r"^WhatsApp refused the link: too many linked devices$"):
        await login(db, show=lambda _: None, timeout=10, library=go)
    assert read_session(db).state is SessionState.NOT_LINKED


async def test_nobody_scanning_ends_the_login_at_its_timeout(go: FakeWhatsmeow, db: Path) -> None:
    started = time.monotonic()
    with pytest.raises(LoginError, match=r"^not linked within 1 seconds$"):
        await login(db, show=lambda _: None, timeout=1, library=go)
    assert time.monotonic() - started < 1 + 5
    # the Go QR loop cannot be stopped; its one thread is a daemon, so it cannot hold the
    # process, and a second attempt on the same session is refused rather than stacked
    stuck = [t for t in threading.enumerate() if t.name.startswith("whatsapp-connection")]
    assert stuck and all(t.daemon for t in stuck)
    with pytest.raises(LoginError, match="still waiting inside the WhatsApp library"):
        await login(db, show=lambda _: None, timeout=1, library=go)


async def test_no_network_fails_at_once_with_the_reason(go: FakeWhatsmeow, db: Path) -> None:
    go.network = False
    started = time.monotonic()
    with pytest.raises(LoginError, match=r"could not connect to WhatsApp: .*no such host"):
        await login(db, show=lambda _: None, timeout=30, library=go)
    assert time.monotonic() - started < 5


async def test_a_linked_session_is_not_linked_again(go: FakeWhatsmeow, db: Path) -> None:
    db.parent.mkdir(parents=True)
    FakeWhatsmeow.store_device(db, "491701234567:7@s.whatsapp.net")
    linked = await login(db, show=lambda _: None, timeout=1, library=go)
    assert (linked.account, linked.already) == (OWNER, True)
    assert go.connects == 0


async def test_a_link_attempt_left_inside_go_stays_silent_during_the_next(tmp_path: Path) -> None:
    go = FakeWhatsmeow(qr_seconds=0.05, qr_codes=10_000)  # a QR loop that keeps going
    with pytest.raises(LoginError):
        await login(tmp_path / "a" / "whatsapp.db", show=lambda _: None, timeout=0.3, library=go)
    go.scans_as = OWNER
    shown: list[str] = []
    unraisable: list[object] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        linked = await login(tmp_path / "b" / "whatsapp.db", show=shown.append, library=go)
        before = go.qr_codes_shown
        await eventually(lambda: go.qr_codes_shown > before + 3)  # the old loop still calls back
    finally:
        sys.unraisablehook = hook
        go.close()
    assert linked.account == OWNER
    assert len(shown) == 1  # the new login's own QR code, none of the old one's
    assert unraisable == []  # no callback raised inside ctypes (a traceback on stderr)


async def test_an_unreadable_session_is_named_and_left_alone(go: FakeWhatsmeow, db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database, but someone's file" * 100)
    with pytest.raises(LoginError, match="move it away, then run the login again"):
        await login(db, show=lambda _: None, library=go)
    assert db.read_bytes().startswith(b"not a database") and go.connects == 0


SCRIPT = """
import sys
import neonize.aioze.client
from tests.channels.fake_neonize import FakeWhatsmeow
from tests.channels.waiting import eventually
from assistant.cli import cli

neonize.aioze.client.gocode = FakeWhatsmeow(qr_seconds=0.2)
cli(sys.argv[1:], prog_name="foreman")
"""


def test_the_command_ends_at_its_timeout_with_exit_1_and_one_line(tmp_path: Path) -> None:
    # a real process: a Go call stuck in its QR loop must not keep it from exiting
    env = {**os.environ, "FOREMAN_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
    env.pop("FOREMAN_WHATSAPP_DB", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "whatsapp", "login", "--timeout", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert done.returncode == 1
    assert done.stderr == "Error: not linked within 1 seconds\n"
    assert done.stdout.startswith("Scan this with WhatsApp")
    assert "Traceback" not in done.stdout + done.stderr


def test_importing_neonize_through_foreman_leaves_logging_alone() -> None:
    probe = (
        "import logging\n"
        "from assistant.channels.whatsapp_client import load_neonize\n"
        "load_neonize()\n"
        "root = logging.getLogger()\n"
        "from neonize.utils.enum import LogLevel\n"
        "from neonize.utils.log import log\n"
        "print(logging.getLevelName(root.level), len(root.handlers),"
        " logging.getLevelName(logging.getLogger('whatsmeow.Client').getEffectiveLevel()),"
        " LogLevel.from_logging(log.level).name)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    # root as it was, whatsmeow's Python loggers and the level handed to Go at WARNING
    assert out.stdout == "WARNING 0 WARNING WARN\n", out.stderr


def test_login_help_names_the_session_file_in_the_order_it_is_looked_up() -> None:
    result = CliRunner().invoke(cli, ["whatsapp", "login", "--help"])
    text = " ".join(result.output.split())
    assert (
        "$FOREMAN_WHATSAPP_DB, else [whatsapp] db, else whatsapp.db in the state directory" in text
    )
    assert "a number of Foreman's own" in text.replace("Use a number", "a number")


def test_the_variable_wins_over_the_file_as_the_help_says(tmp_path: Path) -> None:
    from assistant.gateway import load_config

    toml = tmp_path / "foreman.toml"
    toml.write_text('[whatsapp]\ndb = "from-file.db"\n')
    config = load_config(toml, env={"FOREMAN_WHATSAPP_DB": str(tmp_path / "from-env.db")})
    assert config.whatsapp is not None and config.whatsapp.db.name == "from-env.db"


def test_an_existing_session_in_the_state_directory_is_made_private(tmp_path: Path) -> None:
    from assistant.channels.whatsapp_session import keep_private

    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    (state / "foreman.db").write_text("")
    db = state / "whatsapp.db"
    db.write_text("")
    db.chmod(0o644)
    keep_private(db)
    assert (mode(db), mode(state)) == (0o600, 0o700)
    # a folder with other things in it is not changed under the user; the file still is
    shared = tmp_path / "projects"
    shared.mkdir(mode=0o755)
    (shared / "notes.md").write_text("")
    keep_private(shared / "whatsapp.db")
    assert (mode(shared / "whatsapp.db"), mode(shared)) == (0o600, 0o755)

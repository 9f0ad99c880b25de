from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.fake_telegram import FakeTelegram
from tests.channels.scripted_ports import ScriptedAssistant, ScriptedRelay


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.close()


@pytest.fixture
def scripted_assistant() -> ScriptedAssistant:
    return ScriptedAssistant()


@pytest.fixture
def scripted_relay() -> ScriptedRelay:
    return ScriptedRelay()

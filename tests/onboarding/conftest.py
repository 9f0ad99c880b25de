from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.fake_telegram import FakeTelegram


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.close()

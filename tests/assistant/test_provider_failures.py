"""A provider that fails: one clear line per failure class, nothing kept, the next turn works.

Every test drives the real Anthropic SDK against the fake provider on 127.0.0.1.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from inline_snapshot import snapshot
from pydantic_ai import models

from assistant.dm import DirectMessages
from tests.assistant.scripted_chat import dm
from tests.fake_provider import (
    CutStream,
    Drop,
    Fail,
    FakeAnthropic,
    Hang,
    Reply,
    Say,
    Use,
)
from tests.opencode_server import FakeLLM, HttpError

REPO = Path(__file__).resolve().parents[2]

# failure class -> what the provider does, the user's one line, requests made (transient: 3 tries)
FAILURES: dict[str, tuple[list[Reply], str, int]] = {
    "bad key": (
        [Fail(401, "authentication_error", "invalid x-api-key")],
        "The model provider refused the key in ANTHROPIC_API_KEY (401). Check or replace it, then try again.",
        1,
    ),
    "rate limited": (
        [Fail(429, "rate_limit_error", headers={"retry-after": "40"})],
        "The model provider is rate-limiting this key. Try again in 40 s.",
        1,
    ),
    "overloaded": (
        [Fail(529, "overloaded_error", "Overloaded")],
        "The model provider is overloaded right now (529). Try again in a minute.",
        3,
    ),
    "down": (
        [Fail(500, "api_error", "Internal server error")],
        "The model provider is down or failing (500). Try again in a few minutes.",
        3,
    ),
    "connection dropped": (
        [Drop()],
        "The connection to the model provider broke off mid-reply. Try again.",
        3,
    ),
    "stream cut": (
        [CutStream()],
        "The connection to the model provider broke off mid-reply. Try again.",
        3,
    ),
    "tool misuse": (
        [Use("get_project", {"project": "0014"})],
        "The model kept calling the tool get_project wrongly, so I stopped; nothing was changed. Try rephrasing your request.",
        2,
    ),
    "quota": (
        [Fail(400, "billing_error", "Your credit balance is too low")],
        "The model provider says the account is out of credits or quota. Top it up, or pick another model with --model / FOREMAN_MODEL.",
        1,
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_each_failure_is_one_clear_line_and_the_next_turn_works(
    case: str, fake_anthropic: FakeAnthropic, make_service: Callable[..., DirectMessages]
) -> None:
    replies, expected, requests = FAILURES[case]
    service = make_service()
    fake_anthropic.script(Say("First answer."))
    assert [o.text for o in await service.handle(dm("hello"))] == ["First answer."]
    before = service.conversations.load("telegram:111")

    fake_anthropic.script(*replies)
    fake_anthropic.requests.clear()
    [answer] = await service.handle(dm("list my projects"))
    assert (answer.kind, answer.text) == ("error", expected)
    assert len(fake_anthropic.requests) == requests
    assert service.conversations.load("telegram:111") == before  # nothing of the turn kept

    fake_anthropic.script(Say("All good now."))
    assert [o.text for o in await service.handle(dm("and now?"))] == ["All good now."]
    # /usage bills every request the provider served, the failed turn's included
    assert service.conversations.usage("telegram:111").requests == 1 + requests + 1


async def test_transient_failures_are_tried_again_within_the_turn(
    fake_anthropic: FakeAnthropic, make_service: Callable[..., DirectMessages]
) -> None:
    service = make_service()
    fake_anthropic.script(
        CutStream(), Fail(529, "overloaded_error"), Say("Made it on the third try.")
    )
    [answer] = await service.handle(dm("hello"))
    assert answer.text == "Made it on the third try."
    assert len(fake_anthropic.requests) == 3

    # a long rate-limit wait is not sat through: the user is told at once, after one request
    fake_anthropic.requests.clear()
    fake_anthropic.script(Fail(429, "rate_limit_error", headers={"retry-after": "600"}))
    [answer] = await service.handle(dm("again"))
    assert answer.text == "The model provider is rate-limiting this key. Try again in 10 min."
    assert len(fake_anthropic.requests) == 1


async def test_a_hung_provider_is_given_up_on_after_the_timeout(
    fake_anthropic: FakeAnthropic,
    make_service: Callable[..., DirectMessages],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FOREMAN_MODEL_TIMEOUT", "1.5")
    service = make_service()
    fake_anthropic.script(Hang())
    started = time.monotonic()
    [answer] = await service.handle(dm("hello"))
    assert time.monotonic() - started < 10
    assert answer.text == snapshot(
        "The model did not answer within 1.5 s, so I gave up. Try again, or allow longer with FOREMAN_MODEL_TIMEOUT."
    )
    fake_anthropic.script(Say("Back."))
    assert [o.text for o in await service.handle(dm("hello?"))] == ["Back."]


async def test_a_bad_timeout_setting_is_named(
    fake_anthropic: FakeAnthropic,
    make_service: Callable[..., DirectMessages],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FOREMAN_MODEL_TIMEOUT", "soon")
    [answer] = await make_service().handle(dm("hello"))
    assert answer.text == snapshot(
        "Model anthropic:claude-sonnet-4-5 is not usable: FOREMAN_MODEL_TIMEOUT='soon' must be a positive number of seconds"
    )
    assert fake_anthropic.requests == []


@pytest.mark.parametrize(
    ("failure", "expected", "requests"),
    [
        (
            HttpError(401, "Incorrect API key provided"),
            "The model provider refused the key in OPENAI_API_KEY (401). Check or replace it, then try again.",
            1,
        ),
        (
            HttpError(500),
            "The model provider is down or failing (500). Try again in a few minutes.",
            3,
        ),
    ],
)
async def test_an_openai_compatible_provider_fails_the_same_way(
    failure: HttpError,
    expected: str,
    requests: int,
    fake_llm: FakeLLM,
    make_service: Callable[..., DirectMessages],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The OpenAI-compatible fake on 127.0.0.1 that OpenCode's tests use; requests go nowhere else.
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    fake_llm.always(failure)
    with models.override_allow_model_requests(True):
        [answer] = await make_service("openai:gpt-5").handle(dm("hello"))
    assert (answer.kind, answer.text) == ("error", expected)
    assert len(fake_llm.requests) == requests


def test_no_pydantic_ai_banner_in_foreman_chat_on_a_terminal(
    fake_anthropic: FakeAnthropic, workspace: object, tmp_path: Path
) -> None:
    fake_anthropic.script(Say("Hi from the model."))
    # A real terminal, and none of the variables that make pydantic-ai keep quiet on its own.
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_VERSION")}
    env.update(COLUMNS="120", TERM="xterm")
    controller, terminal = pty.openpty()
    chat = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat", "--workspace", str(workspace.root)],  # type: ignore[attr-defined]
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=REPO,
        env=env,
    )
    os.close(terminal)
    output = b""
    try:
        os.write(controller, b"hello there\n")
        deadline = time.monotonic() + 60
        while b"Hi from the model." not in output and time.monotonic() < deadline:
            output += _read(controller)
        os.write(controller, b"\x04")
        chat.wait(timeout=30)
        output += _read(controller)
    finally:
        chat.kill()
        os.close(controller)
    text = output.decode(errors="replace")
    assert "Hi from the model." in text
    assert "observability" not in text and "logfire" not in text.lower()


def _read(fd: int) -> bytes:
    ready, _, _ = select.select([fd], [], [], 0.5)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the child closed the terminal
        return b""

"""How long a model call may take, which failures are worth another try, and what each means.

A provider failure reaches the user as one line that says what happened and what to do: a key
to check (by its variable), a wait, a limit to raise. Never the provider's status dict or a
library's advice about retry limits.
"""

from __future__ import annotations

import os
import random
import re
from typing import TYPE_CHECKING

import anyio
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelContextWindowExceededError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelOverloadedError,
    ModelQuotaExceededError,
    ModelRateLimitError,
    ModelRequestTimeout,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings, merge_model_settings

from assistant.messages import ChatRef, Outbound
from assistant.model_config import PROVIDER_KEYS, ModelNotConfigured

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, ModelResponse
    from pydantic_ai.models import Model, ModelRequestParameters

TIMEOUT_VARIABLE = "FOREMAN_MODEL_TIMEOUT"
DEFAULT_TIMEOUT = 120.0
# One turn's request is tried this many times when the failure is transient (a cut connection or
# stream, an overloaded or failing provider, a short rate limit); all tries share one deadline.
ATTEMPTS = 3
# A provider asking for a longer wait than this is not waited on inside a chat turn: the user is
# told how long instead.
MAX_WAIT = 10.0
_TRANSIENT = (ModelConnectionError, ModelUnavailableError, ModelServerError, ModelRateLimitError)
# Outbound.extra key marking the reply to a turn the model could not take (A2A: a failed task).
FAILURE = "failure"
_TOOL_RETRIES = re.compile(r"Tool '([^']+)' exceeded max retries")


class BadTimeout(ValueError):
    """FOREMAN_MODEL_TIMEOUT is set to something that is not a positive number of seconds."""


def model_timeout() -> float:
    """Seconds one request to the model may take, all its tries included."""
    raw = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise BadTimeout(f"{TIMEOUT_VARIABLE}={raw!r} must be a positive number of seconds")
    return seconds


class Resilient(WrapperModel):
    """A provider's model with Foreman's deadline, and its transient failures tried again.

    The SDK's own retries are turned off (`max_retries=0`) so that this is the one place that
    retries: the SDK does not retry a stream that breaks off mid-reply, and two layers of
    retries would multiply into minutes.
    """

    def __init__(self, wrapped: Model, timeout: float) -> None:
        super().__init__(wrapped)
        self.timeout = timeout

    @property
    def settings(self) -> ModelSettings | None:
        ours = ModelSettings(request_timeout=self.timeout, max_retries=0)
        return merge_model_settings(self.wrapped.settings, ours)

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self.wrapped.request(
                    messages, model_settings, model_request_parameters
                )
            except _TRANSIENT as exc:
                wait = _wait_before_retry(exc, attempt)
                if attempt == ATTEMPTS or wait is None:
                    raise
            await anyio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _wait_before_retry(exc: ModelAPIError, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None when another try cannot help now."""
    if isinstance(exc, ModelTimeoutError):
        return None  # a whole attempt's time is already spent
    if exc.retry_after is not None:
        return exc.retry_after if exc.retry_after <= MAX_WAIT else None
    if isinstance(exc, ModelRateLimitError):
        return None  # no wait given: the user is told to try again shortly
    return 0.5 * 2 ** (attempt - 1) * (1 + random.random() / 4)


def key_variable(model: Model | str | None) -> str | None:
    """The environment variable holding the key for `model`'s provider, if Foreman knows it."""
    if model is None:
        return None
    system = model.split(":", 1)[0] if isinstance(model, str) else model.system
    return PROVIDER_KEYS.get(system)


def failure_reply(chat: ChatRef, exc: BaseException, model: Model | str | None = None) -> Outbound:
    """The answer to a turn that failed: the one line, marked so other agents see a failure."""
    return Outbound(
        chat=chat,
        text=describe_failure(exc, model),
        kind="error",
        extra={FAILURE: type(exc).__name__},
    )


def describe_failure(exc: BaseException, model: Model | str | None = None) -> str:
    """One line for the user: what went wrong with the model call, and what to do about it.

    Nothing of the turn was kept (the caller saves the history as it was before it), so every
    message can end in "try again".
    """
    if isinstance(exc, ModelNotConfigured):
        return str(exc)
    if isinstance(exc, UnexpectedModelBehavior):
        match = _TOOL_RETRIES.search(exc.message)
        if match:
            return (
                f"The model kept calling the tool {match.group(1)} wrongly, so I stopped; "
                "nothing was changed. Try rephrasing your request."
            )
        return (
            "The model sent a reply I could not use, so I stopped; nothing was changed. "
            "Try again or rephrase."
        )
    if isinstance(exc, UsageLimitExceeded):
        return (
            "The model took too many steps on this, so I stopped; nothing was changed. "
            "Try a narrower request."
        )
    if isinstance(exc, ModelRequestTimeout | ModelTimeoutError):
        seconds = exc.timeout if isinstance(exc, ModelRequestTimeout) else model_timeout()
        return (
            f"The model did not answer within {seconds:g} s, so I gave up. Try again, or allow "
            f"longer with {TIMEOUT_VARIABLE}."
        )
    if isinstance(exc, ModelAPIError):
        return _provider_failure(exc, model)
    return f"The model call failed ({type(exc).__name__}). Try again in a moment."


def _provider_failure(exc: ModelAPIError, model: Model | str | None) -> str:
    status = f" ({exc.status_code})" if isinstance(exc, ModelHTTPError) else ""
    if isinstance(exc, ModelAuthenticationError):
        variable = key_variable(model)
        where = f"the key in {variable}" if variable else "its API key"
        return f"The model provider refused {where}{status}. Check or replace it, then try again."
    if isinstance(exc, ModelQuotaExceededError):
        return (
            "The model provider says the account is out of credits or quota. Top it up, or pick "
            "another model with --model / FOREMAN_MODEL."
        )
    if isinstance(exc, ModelRateLimitError):
        wait = f"in {_seconds(exc.retry_after)}" if exc.retry_after else "in a minute"
        return f"The model provider is rate-limiting this key. Try again {wait}."
    if isinstance(exc, ModelOverloadedError):
        return f"The model provider is overloaded right now{status}. Try again in a minute."
    if isinstance(exc, ModelUnavailableError | ModelServerError):
        return f"The model provider is down or failing{status}. Try again in a few minutes."
    if isinstance(exc, ModelConnectionError):
        if exc.phase == "read" or exc.in_stream:
            return "The connection to the model provider broke off mid-reply. Try again."
        return "Could not reach the model provider. Check the network, then try again."
    if isinstance(exc, ModelNotFoundError):
        return (
            f"The model provider does not know the model {exc.model_name}. Pick another with "
            "--model / FOREMAN_MODEL."
        )
    if isinstance(exc, ModelContextWindowExceededError):
        return "This request does not fit the model's context window. Try a shorter message."
    return f"The model provider refused the request{status}. Try again or rephrase."


def _seconds(value: float) -> str:
    whole = max(1, round(value))
    return f"{whole} s" if whole < 120 else f"{round(whole / 60)} min"

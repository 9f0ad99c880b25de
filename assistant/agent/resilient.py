"""How long a model request may take, and which of its failures are worth another try.

A hung provider must not hold a chat turn for the SDK's ten minutes, and a stream that breaks
off mid-reply (which the SDKs do not retry) is as transient as a refused connection.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import anyio
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
)
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings, merge_model_settings

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

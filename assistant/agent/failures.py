"""What a failed model call means to the user, in one line.

A provider failure reaches the user as one line that says what happened and what to do: a key
to check (by its variable), a wait, a limit to raise. Never the provider's status dict or a
library's advice about retry limits.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

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

from assistant.agent.resilient import TIMEOUT_VARIABLE, model_timeout
from assistant.messages import ChatRef, Outbound
from assistant.model_config import PROVIDER_KEYS, ModelNotConfigured

if TYPE_CHECKING:
    from pydantic_ai.models import Model

# Outbound.extra key marking the reply to a turn the model could not take (A2A: a failed task).
FAILURE = "failure"
_TOOL_RETRIES = re.compile(r"Tool '([^']+)' exceeded max retries")


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

"""The model step's checks: a key's shape per provider, and one minimal request."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from assistant.setup._errors import SetupError

# provider -> (how its keys start, the provider's name); a cheap guard against pasting the
# wrong secret (a Telegram token, another provider's key) before anything is stored
KEY_PREFIXES: dict[str, tuple[str, str]] = {
    "anthropic": ("sk-ant-", "Anthropic"),
    "openai": ("sk-", "OpenAI"),
    "openai-chat": ("sk-", "OpenAI"),
    "openai-responses": ("sk-", "OpenAI"),
    "openrouter": ("sk-or-", "OpenRouter"),
    "groq": ("gsk_", "Groq"),
    "google-gla": ("AIza", "Google"),
    "gemini": ("AIza", "Google"),
}


def check_key_format(provider: str, key: str) -> str:
    """The key stripped, or SetupError saying what a key of this provider looks like."""
    key = key.strip()
    if not key or any(ch.isspace() for ch in key):
        raise SetupError("that key is empty or contains spaces; paste it again")
    prefix, name = KEY_PREFIXES.get(provider, ("", provider))
    if prefix and not key.startswith(prefix):
        raise SetupError(f"that is not an {name} key (they start with {prefix}); paste it again")
    if len(key) < 20:
        raise SetupError(f"that key is too short for an {name} key; paste it again")
    return key


def check_model(model: str, env_var: str | None, key: str | None) -> str:
    """One minimal request to `model` with `key`; its answer, or SetupError with the reason."""
    from pydantic_ai import Agent
    from pydantic_ai.exceptions import UserError

    from assistant.agent.failures import describe_failure

    saved = os.environ.get(env_var) if env_var else None
    if env_var and key:
        os.environ[env_var] = key  # providers read their key from the environment only
    try:
        return asyncio.run(_ask(Agent(model)))
    except (UserError, ValueError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SetupError(f"{model} cannot be used: {first}") from None
    except Exception as exc:  # the provider's failures, each as the assistant itself words it
        raise SetupError(describe_failure(exc, model)) from None
    finally:
        if env_var and key:
            if saved is None:
                os.environ.pop(env_var, None)
            else:
                os.environ[env_var] = saved


async def _ask(agent: Any) -> str:
    # streamed, as the assistant itself talks to the model
    async with agent.run_stream(
        "Reply with the single word OK.", model_settings={"max_tokens": 16}
    ) as result:
        return str(await result.get_output()).strip()

"""Which model the assistant talks to, and a clear refusal when it is not configured.

Light on purpose: `foreman doctor` reads the model name and key without importing pydantic-ai.
"""

from __future__ import annotations

import os

DEFAULT_MODEL = "anthropic:claude-sonnet-4-5"
# The model name (`--model offline`, FOREMAN_MODEL=offline) of the scripted policy in
# assistant.agent.offline: no key, no network.
OFFLINE_MODEL = "offline"

# provider prefix of a pydantic-ai model string -> the environment variable holding its key
PROVIDER_KEYS: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "openai-chat": "OPENAI_API_KEY",
    "openai-responses": "OPENAI_API_KEY",
    "google-gla": "GEMINI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "cohere": "CO_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
}


class ModelNotConfigured(Exception):
    """No usable model: names the setting to fix."""

    def __init__(self, model_name: str, env_var: str | None, detail: str | None = None) -> None:
        self.model_name = model_name
        self.env_var = env_var
        if env_var:
            message = (
                f"No model key configured: set {env_var} to use {model_name} "
                "(or pick another model with --model / FOREMAN_MODEL). "
                "Commands like /projects and /help work without one."
            )
        else:
            message = f"Model {model_name} is not usable: {detail}"
        super().__init__(message)


def configured_model_name(model: str | None = None) -> str:
    return model or os.environ.get("FOREMAN_MODEL") or DEFAULT_MODEL


def missing_key(model_name: str) -> str | None:
    """The environment variable `model_name` needs and that is not set, if any."""
    env_var = PROVIDER_KEYS.get(model_name.split(":", 1)[0])
    if env_var and not os.environ.get(env_var):
        return env_var
    return None

"""The assistant's agent: typed tools over the project list and the orchestrator."""

from assistant.agent._agent import agent, builder_summary
from assistant.agent._deps import AssistantDeps
from assistant.agent._model import (
    DEFAULT_MODEL,
    ModelNotConfigured,
    configured_model_name,
    missing_key,
    resolve_model,
)
from assistant.agent._settle import open_calls, settle
from assistant.agent._size import prompt_chars, prompt_parts

__all__ = [
    "DEFAULT_MODEL",
    "AssistantDeps",
    "ModelNotConfigured",
    "agent",
    "builder_summary",
    "configured_model_name",
    "missing_key",
    "open_calls",
    "prompt_chars",
    "prompt_parts",
    "resolve_model",
    "settle",
]

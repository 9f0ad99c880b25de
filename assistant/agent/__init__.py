"""The assistant's agent: typed tools over the project list and the orchestrator."""

from assistant.agent._agent import agent
from assistant.agent._deps import AssistantDeps
from assistant.agent._settle import open_calls, settle
from assistant.agent._size import prompt_chars, prompt_parts
from assistant.agent.models import resolve_model
from assistant.agent.offline import OFFLINE_MODEL_NAME, offline_model
from assistant.builder_summary import builder_summary
from assistant.model_config import (
    DEFAULT_MODEL,
    ModelNotConfigured,
    configured_model_name,
    missing_key,
)

__all__ = [
    "DEFAULT_MODEL",
    "OFFLINE_MODEL_NAME",
    "AssistantDeps",
    "ModelNotConfigured",
    "agent",
    "builder_summary",
    "configured_model_name",
    "missing_key",
    "offline_model",
    "open_calls",
    "prompt_chars",
    "prompt_parts",
    "resolve_model",
    "settle",
]

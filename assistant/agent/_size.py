"""The model's fixed load per request: instructions plus tool definitions, as sent."""

from __future__ import annotations

import json
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assistant.agent._agent import agent


def prompt_parts() -> dict[str, Any]:
    """The instructions and each tool definition exactly as the agent hands them to a model."""
    seen: dict[str, Any] = {}

    def capture(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen["instructions"] = info.instructions or ""
        seen["tools"] = [
            {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters_json_schema,
            }
            for tool in info.function_tools
        ]
        return ModelResponse(parts=[TextPart("ok")])

    # No deps are touched: the capturing model answers before any tool runs.
    agent.run_sync("size", model=FunctionModel(capture), deps=None)  # type: ignore[arg-type]
    return seen


def prompt_chars() -> int:
    """Characters of instructions + tool definitions (JSON) sent with every request."""
    parts = prompt_parts()
    tools = sum(len(json.dumps(tool, separators=(",", ":"))) for tool in parts["tools"])
    return len(parts["instructions"]) + tools

"""A model wrapper that records what every request sent and what came back.

It works the same around a real model and the offline policy, so a case's tool calls, request
count, tokens and history size are measured outside the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models import Model, ModelRequestParameters

from assistant.agent.metered import Observed, offline_input_tokens


@dataclass
class Recording:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    max_history: int = 0
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def sent(self, messages: list[ModelMessage]) -> None:
        # Counted before the answer: a request that fails was still sent (and may be billed).
        self.requests += 1
        self.max_history = max(self.max_history, len(messages))

    def add(self, model: Model, response: ModelResponse, params: ModelRequestParameters) -> None:
        self.input_tokens += offline_input_tokens(model, response, params)
        self.output_tokens += response.usage.output_tokens
        for part in response.parts:
            if isinstance(part, ToolCallPart):
                self.tool_calls.append((part.tool_name, part.args_as_dict()))


class RecordingModel(Observed):
    """Passes every request through unchanged and notes it in `recording`."""

    def __init__(self, wrapped: Model | str) -> None:
        super().__init__(wrapped)
        self.recording = Recording()

    def sent(self, messages: list[ModelMessage]) -> None:
        self.recording.sent(messages)

    def answered(self, response: ModelResponse, params: ModelRequestParameters) -> None:
        self.recording.add(self.wrapped, response, params)

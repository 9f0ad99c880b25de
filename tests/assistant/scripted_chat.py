"""Scripted chats for the assistant's tests: principals, a scripted model, DM builders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assistant.messages import ChatRef, Inbound, Principal

ADA = Principal("telegram", "111", "Ada")
MALLORY = Principal("telegram", "666", "Mallory")
ADA_DM = ChatRef("telegram", "111")

Step = list[Any] | Callable[[list[ModelMessage]], list[Any]]


class Scripted:
    """A scripted model: each request gets the next step's parts; nothing else is ever sent."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.seen: list[list[ModelMessage]] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.seen.append(list(messages))
        assert self.steps, "the scripted model was asked for more requests than scripted"
        step = self.steps.pop(0)
        parts = step(messages) if callable(step) else step
        return ModelResponse(parts=parts)

    @property
    def model(self) -> FunctionModel:
        return FunctionModel(self)

    @property
    def requests(self) -> int:
        return len(self.seen)


def call(tool: str, **args: Any) -> ToolCallPart:
    return ToolCallPart(tool, args)


def dm(
    text: str = "", sender: Principal = ADA, callback: str | None = None, message_id: str = "m1"
) -> Inbound:
    chat = ChatRef(sender.platform, sender.user_id)
    return Inbound(
        chat=chat, sender=sender, text=text, message_id=message_id, callback_data=callback
    )


def tool_returns(messages: list[ModelMessage]) -> dict[str, str]:
    """What each tool returned, as the model saw it in these messages."""
    return {
        p.tool_name: p.model_response_str()
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    }

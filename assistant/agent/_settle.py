"""Answer deferred tool calls in a history (run the approved ones) without calling a model."""

from __future__ import annotations

from typing import Any

from pydantic_ai import DeferredToolResults, ToolApproved, ToolDenied
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_graph import End

from assistant.agent._agent import agent
from assistant.agent._deps import AssistantDeps
from assistant.agent.pydantic_internals import request_about_to_be_sent


def _no_model_call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise AssertionError("settling approvals must never call a model")


# Handed to the run so the graph has a model; the loop below stops before any request is sent.
NO_MODEL = FunctionModel(_no_model_call, model_name="no-model")


def open_calls(messages: list[ModelMessage]) -> list[ToolCallPart]:
    """Tool calls of the last model response that have no result yet."""
    answered: set[str] = set()
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            answered |= {p.tool_call_id for p in message.parts if isinstance(p, ToolReturnPart)}
            continue
        return [c for c in message.tool_calls if c.tool_call_id not in answered]
    return []


async def settle(
    deps: AssistantDeps,
    messages: list[ModelMessage],
    decisions: dict[str, ToolApproved | ToolDenied],
    metadata: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[ModelMessage], dict[str, str]]:
    """Apply `decisions` (one per open call) through pydantic-ai's own tool pipeline.

    Approved calls run their tool; denied ones get the denial as their result. The run is
    stopped before the model would be asked to continue, so no tokens are spent: the returned
    history ends with the tool results, and the next user turn is appended after them.
    Returns the new history and each call's result text.
    """
    results = DeferredToolResults(approvals=dict(decisions), metadata=metadata or {})
    async with agent.iter(
        None, message_history=messages, deferred_tool_results=results, deps=deps, model=NO_MODEL
    ) as run:
        node = run.next_node
        while not isinstance(node, End):
            node = await run.next(node)
            request = request_about_to_be_sent(node)
            if request is not None:
                history = [*run.all_messages(), request]
                break
        else:  # pragma: no cover - a resumed approval never produces a final output itself
            history = run.all_messages()
    texts = {
        part.tool_call_id: part.model_response_str()
        for message in history
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.tool_call_id in decisions
    }
    return history, texts

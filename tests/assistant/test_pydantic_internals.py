"""Foreman's one dependency on a private part of pydantic-ai still holds.

Settling approvals (approve a card: the tool runs, no model is asked) needs to spot the step at
which an agent run is about to call the model. If pydantic-ai changes under
`assistant.agent.pydantic_internals`, this test fails and says which private name moved.
"""

from __future__ import annotations

import importlib.metadata

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assistant.agent.pydantic_internals import PRIVATE_DEPENDENCY, request_about_to_be_sent


def _must_not_be_called(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    version = importlib.metadata.version("pydantic-ai-slim")
    raise AssertionError(
        f"pydantic-ai {version} called the model before {PRIVATE_DEPENDENCY} was seen: "
        "assistant.agent.pydantic_internals no longer recognises the step before a model call, "
        "so approving a card would spend tokens"
    )


async def test_the_step_before_a_model_call_is_recognised() -> None:
    agent = Agent(FunctionModel(_must_not_be_called))
    async with agent.iter("wrap up 0014") as run:
        node = run.next_node
        request = request_about_to_be_sent(node)
        while request is None:
            node = await run.next(node)
            request = request_about_to_be_sent(node)
    prompts = [p.content for p in request.parts if isinstance(p, UserPromptPart)]
    assert prompts == ["wrap up 0014"], f"{PRIVATE_DEPENDENCY}.request changed: {request!r}"


def test_other_steps_are_not_mistaken_for_it() -> None:
    assert request_about_to_be_sent(object()) is None

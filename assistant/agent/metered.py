"""Every model request a turn makes, counted where it is sent: retries and failures included.

pydantic-ai counts only the responses a run commits, so a turn that fails (a provider error, a
tool loop stopped at the request limit) or a request retried after a cut connection would go
unbilled in `/usage` though the provider served it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_ai.models.function import FunctionModel
from pydantic_ai.models.wrapper import WrapperModel

from assistant.agent.resilient import Resilient

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, ModelResponse
    from pydantic_ai.models import Model, ModelRequestParameters, StreamedResponse
    from pydantic_ai.settings import ModelSettings
    from pydantic_ai.tools import RunContext


@dataclass
class Meter:
    """Requests sent and tokens billed, across every attempt."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def fixed_prompt_tokens(params: ModelRequestParameters) -> int:
    """Instructions + tool schemas sent with a request, ≈ characters / 4 (as `prompt_chars`)."""
    instructions = sum(len(part.content) for part in params.instruction_parts or [])
    tools = sum(
        len(
            json.dumps(
                {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters_json_schema,
                },
                separators=(",", ":"),
            )
        )
        for t in params.function_tools
    )
    return (instructions + tools) // 4


def offline_input_tokens(
    model: Model, response: ModelResponse, params: ModelRequestParameters
) -> int:
    """A response's input tokens; an offline model's estimate gains the fixed prompt it omits."""
    tokens = response.usage.input_tokens
    while isinstance(model, WrapperModel):
        model = model.wrapped
    if isinstance(model, FunctionModel):
        tokens += fixed_prompt_tokens(params)
    return tokens


class Observed(WrapperModel):
    """A model passed through unchanged, with a hook before each request is sent and one when
    its response (whole or streamed) has arrived; a request that fails still saw `sent`."""

    def sent(self, messages: list[ModelMessage]) -> None:
        """Called before each request goes out."""

    def answered(self, response: ModelResponse, params: ModelRequestParameters) -> None:
        """Called with each complete response."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        self.sent(messages)
        response = await super().request(messages, model_settings, model_request_parameters)
        self.answered(response, model_request_parameters)
        return response

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        self.sent(messages)
        async with super().request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream
        self.answered(stream.get(), model_request_parameters)


class Metered(Observed):
    """Counts each request into `meter` before it is sent; tokens when its response arrives."""

    def __init__(self, wrapped: Model, meter: Meter) -> None:
        super().__init__(wrapped)
        self.meter = meter

    def sent(self, messages: list[ModelMessage]) -> None:
        self.meter.requests += 1

    def answered(self, response: ModelResponse, params: ModelRequestParameters) -> None:
        self.meter.input_tokens += offline_input_tokens(self.wrapped, response, params)
        self.meter.output_tokens += response.usage.output_tokens


def metered(model: Model, meter: Meter) -> Model:
    """`model` counting into `meter`, beneath Foreman's retries so each attempt counts."""
    if isinstance(model, Resilient):
        return Resilient(Metered(model.wrapped, meter), model.timeout)
    return Metered(model, meter)

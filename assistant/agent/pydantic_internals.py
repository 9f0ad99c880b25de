"""The one private part of pydantic-ai Foreman relies on, behind one function.

Settling approvals must run the approved tools through pydantic-ai's own pipeline and stop
right before the model would be asked to continue. The public `Agent.iter` API yields the
graph's nodes but names the "about to call the model" node only in the private module
`pydantic_ai._agent_graph`. Nothing else may import it: when pydantic-ai moves it, this module
fails at import with a message saying so, and tests/assistant/test_pydantic_internals.py fails
naming it.
"""

from __future__ import annotations

import importlib.metadata

from pydantic_ai.messages import ModelRequest

PRIVATE_DEPENDENCY = "pydantic_ai._agent_graph.ModelRequestNode"

try:
    from pydantic_ai._agent_graph import ModelRequestNode
except ImportError as error:  # pragma: no cover - only with a pydantic-ai that moved it
    version = importlib.metadata.version("pydantic-ai-slim")
    raise ImportError(
        f"pydantic-ai {version} has no {PRIVATE_DEPENDENCY}, which {__name__} needs to settle "
        "approvals without a model call; install the version pyproject.toml pins"
    ) from error


def request_about_to_be_sent(node: object) -> ModelRequest | None:
    """The request an agent run would send to the model next, if `node` is that step."""
    if isinstance(node, ModelRequestNode):
        request = node.request
        if not isinstance(request, ModelRequest):  # pragma: no cover - a changed pydantic-ai
            raise TypeError(f"{PRIVATE_DEPENDENCY}.request is no longer a ModelRequest")
        return request
    return None

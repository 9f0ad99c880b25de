"""The model object an agent turn runs with, from a name or as given."""

from __future__ import annotations

from pydantic_ai.exceptions import UserError
from pydantic_ai.models import Model, infer_model

from assistant.agent.offline import offline_model
from assistant.agent.resilient import Resilient, model_timeout
from assistant.model_config import (
    OFFLINE_MODEL,
    ModelNotConfigured,
    configured_model_name,
    missing_key,
)


def resolve_model(model: str | Model | None = None) -> Model:
    """A ready model object, or ModelNotConfigured naming what to set.

    A model named by string gets Foreman's deadline and retries (`FOREMAN_MODEL_TIMEOUT`); a
    model object is used as given; `offline` is the scripted policy.
    """
    if isinstance(model, Model):
        return model
    name = configured_model_name(model)
    if name == OFFLINE_MODEL:
        return offline_model()
    env_var = missing_key(name)
    if env_var:
        raise ModelNotConfigured(name, env_var)
    try:  # model_timeout's BadTimeout is a ValueError: it names the variable and its value
        return Resilient(infer_model(name), model_timeout())
    except (UserError, ValueError, ImportError) as exc:
        raise ModelNotConfigured(name, None, str(exc)) from exc

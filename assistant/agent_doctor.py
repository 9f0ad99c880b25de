"""`foreman doctor` checks for the assistant: the model and its key.

Doctor stays a light command: nothing here imports pydantic-ai. (The prompt's size budget is
held by the tests, where a change to the prompt or the tools is made.)
"""

from __future__ import annotations

from assistant.doctor import Check, DoctorContext, Tier, doctor_check
from assistant.model_config import OFFLINE_MODEL, configured_model_name, missing_key


@doctor_check("assistant", Tier.ASSISTANT)
def check_assistant(context: DoctorContext) -> list[Check]:
    """The model the assistant would use and whether its key is set."""
    if context.model == OFFLINE_MODEL:
        detail = "offline: the scripted policy (no key needed; it knows a few phrasings)"
        return [Check("model", True, detail, {"model": OFFLINE_MODEL, "key_set": False})]
    model = configured_model_name(context.model)
    env_var = missing_key(model)
    if env_var:
        # A warning, not a failure: the demo, slash commands and approvals work without one.
        return [
            Check(
                "model",
                False,
                f"{model}: {env_var} is not set, so free text is off (slash commands work); "
                "set it, or choose another model (FOREMAN_MODEL, or model in foreman.toml)",
                {"model": model, "key_env": env_var, "key_set": False},
                warning=True,
            )
        ]
    return [Check("model", True, f"{model}: key found", {"model": model, "key_set": True})]

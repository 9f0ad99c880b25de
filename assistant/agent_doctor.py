"""`foreman doctor` checks for the assistant: the model and its key, the prompt size.

Doctor stays a light command: the prompt is measured in a child process, so this one never
imports pydantic-ai.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from assistant.doctor import Check, DoctorContext, Tier, doctor_check
from assistant.model_config import configured_model_name, missing_key

PROMPT_BUDGET = 8000
_MEASURE = (
    "import json; from assistant.agent import prompt_chars; print(json.dumps(prompt_chars()))"
)


@doctor_check("assistant", Tier.ASSISTANT)
def check_assistant(context: DoctorContext) -> list[Check]:
    """The model the assistant would use and whether its key is set; the prompt's size."""
    model = configured_model_name()
    env_var = missing_key(model)
    if env_var:
        # Not a failure: the demo, slash commands and approvals all work without a model.
        model_check = Check(
            "model",
            True,
            f"{model}: {env_var} is not set, so free text is off (slash commands work); "
            "set it, or choose another model with FOREMAN_MODEL",
            {"model": model, "key_env": env_var, "key_set": False},
        )
    else:
        model_check = Check("model", True, f"{model}: key found", {"model": model, "key_set": True})
    # The child imports this same checkout or installation, wherever doctor runs from.
    here = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    if measured.returncode != 0:
        detail = measured.stderr.strip().splitlines()[-1] if measured.stderr.strip() else "?"
        return [model_check, Check("prompt", False, f"cannot measure the prompt: {detail}")]
    chars = json.loads(measured.stdout.strip().splitlines()[-1])
    size_check = Check(
        "prompt",
        chars <= PROMPT_BUDGET,
        f"instructions + tool definitions: {chars} characters (budget {PROMPT_BUDGET})",
        {"prompt_chars": chars, "budget": PROMPT_BUDGET},
    )
    return [model_check, size_check]

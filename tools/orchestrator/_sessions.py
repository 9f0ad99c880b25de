"""The OpenCode session rules a builder starts with: asking before bash and edits, by default."""

from __future__ import annotations

import json
import os

from tools.orchestrator._errors import OrchestratorError

# OpenCode runs bash and edits without asking unless told to; a builder asks (shared/OPENCODE.md).
DEFAULT_SESSION_PERMISSION: tuple[dict[str, str], ...] = (
    {"permission": "bash", "pattern": "*", "action": "ask"},
    {"permission": "edit", "pattern": "*", "action": "ask"},
)
PERMISSION_ENV = "FOREMAN_BUILDER_PERMISSION"
NO_SERVER_NOTE = "no OpenCode server configured (FOREMAN_OPENCODE_URL); no session was started"


def session_permission_from_env() -> tuple[dict[str, str], ...]:
    """$FOREMAN_BUILDER_PERMISSION (a JSON list of OpenCode permission rules), else the default."""
    raw = os.environ.get(PERMISSION_ENV)
    if not raw:
        return DEFAULT_SESSION_PERMISSION
    try:
        rules = json.loads(raw)
    except ValueError as e:
        raise OrchestratorError(f"{PERMISSION_ENV} is not valid JSON: {e}") from None
    keys = {"permission", "pattern", "action"}
    if not isinstance(rules, list) or not all(
        isinstance(r, dict)
        and set(r) == keys
        and all(isinstance(v, str) for v in r.values())
        and r["action"] in ("allow", "deny", "ask")
        for r in rules
    ):
        raise OrchestratorError(
            f"{PERMISSION_ENV} must be a JSON list of "
            '{"permission": ..., "pattern": ..., "action": "allow"|"deny"|"ask"} rules'
        )
    return tuple(rules)

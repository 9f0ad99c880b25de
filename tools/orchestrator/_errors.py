"""The one error the orchestrator raises: a refusal or failure with a reason a human can act on."""

from __future__ import annotations

from pathlib import Path


class OrchestratorError(Exception):
    """A builder operation was refused or failed; `reason` says what and where."""

    def __init__(self, reason: str, *, path: Path | None = None, output: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        # what `git` or `task` printed, kept for the report but out of the one-line reason
        self.output = output

    def to_dict(self) -> dict[str, str | None]:
        return {
            "error": self.reason,
            "path": str(self.path) if self.path else None,
            "output": self.output or None,
        }

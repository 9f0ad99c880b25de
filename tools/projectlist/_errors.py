"""What can go wrong reading or editing a project list; every error names the file."""

from __future__ import annotations

from pathlib import Path


class ProjectListError(Exception):
    """The project list cannot be read or the edit cannot be made; nothing was written."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.line = line  # 1-based; 0 when the problem is the file as a whole
        self.message = message

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        return f"{where}: {self.message}"


class StaleFileError(ProjectListError):
    """The file changed since it was read, so the planned edit no longer applies."""


class ProjectNotFound(ProjectListError):
    """No project with that id in the file."""


class InvalidStatus(ProjectListError):
    """The requested status is not one of the lifecycle's statuses."""

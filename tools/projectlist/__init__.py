"""The project list: a typed model and a lossless, locked, atomic editor for it.

Reads the design's `.ai/projectlist.md` and codev's `codev/projectlist.md`; a status edit
rewrites only the status line (and the `<status>_at` line where the entry has one).
"""

from tools.projectlist._cache import clear_cache, load, load_async
from tools.projectlist._edit import (
    StatusChange,
    apply_status_change,
    now,
    plan_status_change,
    set_status,
)
from tools.projectlist._errors import (
    InvalidStatus,
    ProjectListError,
    ProjectNotFound,
    StaleFileError,
)
from tools.projectlist._lifecycle import transition_warnings
from tools.projectlist._model import (
    HUMAN_GATES,
    LIFECYCLE,
    STATUSES,
    TERMINAL,
    ChatBinding,
    Format,
    Issue,
    Project,
    ProjectList,
    canonical,
)
from tools.projectlist._parse import parse
from tools.projectlist._starter import STARTER, Starter, create_projectlist
from tools.projectlist._write import temp_files

__all__ = [
    "HUMAN_GATES",
    "LIFECYCLE",
    "STARTER",
    "STATUSES",
    "TERMINAL",
    "ChatBinding",
    "Format",
    "InvalidStatus",
    "Issue",
    "Project",
    "ProjectList",
    "ProjectListError",
    "ProjectNotFound",
    "StaleFileError",
    "Starter",
    "StatusChange",
    "apply_status_change",
    "canonical",
    "clear_cache",
    "create_projectlist",
    "load",
    "load_async",
    "now",
    "parse",
    "plan_status_change",
    "set_status",
    "temp_files",
    "transition_warnings",
]

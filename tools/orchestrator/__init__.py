"""The orchestrator tool layer: builder workspaces (git worktrees + an OpenCode session each).

orch = Orchestrator(workspace)                 # backend: auto | native | taskfile
builder = await orch.create_builder("0015")    # .builders/0015-new-feature/
result = await orch.terminate_builder(builder.name)   # refused with a DirtyReport when dirty
# force=True archives what it discards first; result.archive, result.restore
"""

from tools.orchestrator._archive import DEFAULT_RETENTION_DAYS, prune_archives
from tools.orchestrator._diff import BuilderDiff, ChangeSet, FileChange, WorktreeDiff, builder_diff
from tools.orchestrator._dirt import DEFAULT_REGENERABLE
from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._names import (
    BUILDERS_DIR,
    branch_for,
    builder_name,
    builder_path,
    check_safe,
    slugify,
)
from tools.orchestrator._orchestrator import Orchestrator
from tools.orchestrator._results import (
    Builder,
    BuilderOnProject,
    BuilderPlan,
    BuilderStatus,
    Commit,
    DirtyReport,
    Orphan,
    Push,
    ReconcileReport,
    Session,
    StaleWorktree,
    SyncResult,
    TerminateResult,
    Worktree,
    WorktreeDirt,
    WorktreeStatus,
)
from tools.orchestrator._scan import (
    builder_directories,
    builders_by_project,
    marker_path,
    match_project,
)
from tools.orchestrator._sessions import DEFAULT_SESSION_PERMISSION, session_permission_from_env
from tools.orchestrator._snapshot import (
    BuilderSnapshot,
    SnapshotChanges,
    changes_since,
    snapshot_builder,
)
from tools.orchestrator._taskfile import find_taskfile, task_binary
from tools.orchestrator.demo_workspace import make_demo_workspace

__all__ = [
    "BUILDERS_DIR",
    "DEFAULT_REGENERABLE",
    "DEFAULT_RETENTION_DAYS",
    "DEFAULT_SESSION_PERMISSION",
    "Builder",
    "BuilderDiff",
    "BuilderOnProject",
    "BuilderPlan",
    "BuilderSnapshot",
    "BuilderStatus",
    "ChangeSet",
    "Commit",
    "DirtyReport",
    "FileChange",
    "Orchestrator",
    "OrchestratorError",
    "Orphan",
    "Push",
    "ReconcileReport",
    "Session",
    "SnapshotChanges",
    "StaleWorktree",
    "SyncResult",
    "TerminateResult",
    "Worktree",
    "WorktreeDiff",
    "WorktreeDirt",
    "WorktreeStatus",
    "branch_for",
    "builder_diff",
    "builder_directories",
    "builder_name",
    "builder_path",
    "builders_by_project",
    "changes_since",
    "check_safe",
    "find_taskfile",
    "make_demo_workspace",
    "marker_path",
    "match_project",
    "prune_archives",
    "session_permission_from_env",
    "slugify",
    "snapshot_builder",
    "task_binary",
]

"""The orchestrator: creates, inspects, syncs and terminates builders in `<workspace>/.builders/`.

Every public method is async (git work runs in threads) so the assistant and the CLI call the same
code. It reads the project list and never edits it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from git import GitCommandError, Repo

from tools.orchestrator import _git
from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._names import (
    BUILDERS_DIR,
    WORKSPACE_ROOT,
    branch_for,
    builder_name,
    builder_path,
    builders_root,
    check_safe,
    contained,
)
from tools.orchestrator._results import (
    Backend,
    Builder,
    BuilderOnProject,
    BuilderPlan,
    BuilderStatus,
    DirtyReport,
    Orphan,
    Push,
    ReconcileReport,
    Session,
    StaleWorktree,
    SyncResult,
    TerminateResult,
    Worktree,
)
from tools.orchestrator._taskfile import find_taskfile, run_task

if TYPE_CHECKING:
    from tools.opencode import OpenCodeClient
    from tools.projectlist import Project
    from tools.workspace import Workspace

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


class Orchestrator:
    """Builders of one workspace: `<root>/.builders/<id>-<slug>/{workspace-root,<repo>...}`."""

    def __init__(
        self,
        workspace: Workspace,
        opencode: OpenCodeClient | None = None,
        backend: Literal["auto", "native", "taskfile"] = "auto",
        session_permission: Sequence[dict[str, str]] = DEFAULT_SESSION_PERMISSION,
    ) -> None:
        if backend not in ("auto", "native", "taskfile"):
            raise OrchestratorError(f"unknown back-end {backend!r}: use auto, native or taskfile")
        self.workspace = workspace
        self.root = Path(workspace.root).resolve()
        self.opencode = opencode
        self.backend = backend
        self.session_permission = [dict(rule) for rule in session_permission]

    # -- layout ---------------------------------------------------------------------------------

    def source(self, repo: str) -> Path:
        """The repository a worktree named `repo` comes from."""
        return self.root if repo == WORKSPACE_ROOT else self.root / "repos" / repo

    def resolved_backend(self) -> Backend:
        taskfile = find_taskfile(self.root)
        if self.backend == "taskfile" and taskfile is None:
            raise OrchestratorError(
                f"no Taskfile in {self.root} defines builder:init and builder:cleanup"
            )
        if self.backend == "native":
            return "native"
        return "taskfile" if taskfile else "native"

    def builder_path(self, name: str) -> Path:
        """`<root>/.builders/<name>`, resolved: the directory its OpenCode session is bound to."""
        return builder_path(self.root, name)

    def _existing(self, name: str) -> Path:
        path = self.builder_path(name)
        if not path.is_dir():
            raise OrchestratorError(f"no builder named {name}: {path} does not exist", path=path)
        return path

    def _worktrees(self, path: Path) -> tuple[tuple[Worktree, ...], tuple[str, ...]]:
        """The worktrees inside a builder directory, and the entries that are not worktrees."""
        worktrees: list[Worktree] = []
        stray: list[str] = []
        for entry in sorted(path.iterdir(), key=_workspace_root_first):
            if entry.is_dir() and not entry.is_symlink() and _git.is_worktree(entry):
                source = _source_of(entry) or self.source(entry.name)
                branch = _git.checked_out_branch(entry)
                worktrees.append(Worktree(entry.name, entry, branch or "", source))
            else:
                stray.append(entry.name + ("/" if entry.is_dir() else ""))
        return tuple(worktrees), tuple(stray)

    # -- create ---------------------------------------------------------------------------------

    async def plan_builder(
        self, project_id: str, extra_repos: Iterable[str] = (), name: str | None = None
    ) -> BuilderPlan:
        """What create_builder would make, checked against the disk; nothing is written."""
        plan, _ = await self._plan(project_id, tuple(extra_repos), name)
        return plan

    async def _plan(
        self, project_id: str, extra: tuple[str, ...], name: str | None
    ) -> tuple[BuilderPlan, dict[str, str]]:
        # validate every name before touching the filesystem
        check_safe(project_id, "project id")
        for repo in extra:
            check_safe(repo, "repo name")
        if name is not None:
            check_safe(name, "builder name")
        project = await asyncio.to_thread(self._project, project_id)
        builder = builder_name(project.id, project.title, name)
        repos = _unique((*project.repos, *extra))
        for repo in repos:
            check_safe(repo, f"repo name (project {project.id})")
            if repo == WORKSPACE_ROOT:
                raise OrchestratorError(
                    f"a repo may not be named {WORKSPACE_ROOT!r}: it is reserved"
                )
        builders = builders_root(self.root)
        path = contained(builders, builder)
        branch = branch_for(builder)
        plan = [(WORKSPACE_ROOT, self.root), *((r, self.source(r)) for r in repos)]
        heads = await asyncio.to_thread(self._preflight, builder, path, branch, plan)
        worktrees = tuple(Worktree(key, path / key, branch, source) for key, source in plan)
        found = BuilderPlan(builder, project.id, project.title, path, branch, worktrees)
        return found, heads

    async def create_builder(
        self, project_id: str, extra_repos: Iterable[str] = (), name: str | None = None
    ) -> Builder:
        """Create the builder's worktrees (and its OpenCode session when a server is configured)."""
        found, heads = await self._plan(project_id, tuple(extra_repos), name)
        builder, path, branch = found.name, found.path, found.branch
        plan = [(w.repo, w.source) for w in found.worktrees]
        repos = tuple(w.repo for w in found.worktrees[1:])
        backend = self.resolved_backend()

        await asyncio.to_thread(self._claim, path.parent, path)
        try:
            output = await self._make_worktrees(backend, builder, path, branch, plan, repos)
        except BaseException:
            await asyncio.to_thread(self._rollback, path, branch, plan, heads)
            raise
        session, note = await self._start_session(builder, path)
        return Builder(
            name=builder,
            project_id=found.project_id,
            path=path,
            branch=branch,
            worktrees=found.worktrees,
            backend=backend,
            session=session,
            session_note=note,
            output=output,
        )

    def _projects(self) -> tuple[Project, ...]:
        from tools.projectlist import ProjectListError, load

        listing = Path(self.workspace.projectlist_path)
        try:
            return load(listing).projects
        except ProjectListError as e:  # names the file and line
            raise OrchestratorError(f"cannot read the project list: {e}", path=listing) from None
        except OSError as e:
            raise OrchestratorError(f"cannot read the project list {listing}: {e}") from None

    def _project(self, project_id: str) -> Project:
        listing = self.workspace.projectlist_path
        project = next((p for p in self._projects() if p.id == project_id), None)
        if project is None:
            raise OrchestratorError(f"project {project_id} not found in {listing}", path=listing)
        return project

    def _preflight(
        self, builder: str, path: Path, branch: str, plan: list[tuple[str, Path]]
    ) -> dict[str, str]:
        """Refuse before anything is written; the HEAD each repo's branch will start from."""
        if path.exists() or path.is_symlink():
            raise OrchestratorError(f"builder {builder} already exists at {path}", path=path)
        heads: dict[str, str] = {}
        for key, source in plan:
            label = "workspace" if key == WORKSPACE_ROOT else key
            repo = _git.open_repo(source, label)
            if _git.has_branch(repo, branch):
                raise OrchestratorError(
                    f"branch {branch} already exists in {source}; an existing branch is never "
                    "reset: choose another name (--name) or delete that branch yourself",
                    path=source,
                )
            heads[key] = repo.head.commit.hexsha
        return heads

    def _claim(self, builders: Path, path: Path) -> None:
        builders.mkdir(exist_ok=True)
        _exclude_builders(self.root)
        try:
            # an atomic claim: of two concurrent creates, the second stops here
            path.mkdir()
        except FileExistsError:
            raise OrchestratorError(
                f"builder {path.name} already exists at {path}", path=path
            ) from None

    async def _make_worktrees(
        self,
        backend: Backend,
        builder: str,
        path: Path,
        branch: str,
        plan: list[tuple[str, Path]],
        repos: tuple[str, ...],
    ) -> str:
        if backend == "taskfile":
            variables = {"BUILDER_NAME": builder, "REPOS": ",".join(repos)}
            output = await asyncio.to_thread(run_task, self.root, "builder:init", variables)
            for key, _ in plan:
                if _git.checked_out_branch(path / key) != branch:
                    raise OrchestratorError(
                        f"`task builder:init` did not create {path / key} on branch {branch}",
                        path=path / key,
                        output=output,
                    )
            return output
        # separate repositories: their worktrees can be added at the same time
        results = await asyncio.gather(
            *(asyncio.to_thread(_git.add_worktree, src, path / key, branch) for key, src in plan),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return ""

    def _rollback(
        self, path: Path, branch: str, plan: list[tuple[str, Path]], heads: dict[str, str]
    ) -> None:
        """Undo a half-made builder: its worktrees, the branches it made, its directory."""
        for key, source in plan:
            worktree = path / key
            if worktree.exists():
                # made moments ago by this call: nothing of the user's is inside
                try:
                    _git.remove_worktree(source, worktree, force=True)
                except OrchestratorError:
                    shutil.rmtree(worktree, ignore_errors=True)
            try:
                _git.prune(source)
                repo = Repo(source)
                head = next((h for h in repo.heads if h.name == branch), None)
                # the branch did not exist before this call; deleting it at the start commit loses
                # nothing, and a branch that moved is someone's work and stays
                if head is not None and head.commit.hexsha == heads.get(key):
                    _git.delete_branch(source, branch)
            except (OrchestratorError, GitCommandError, ValueError):
                pass
        shutil.rmtree(path, ignore_errors=True)

    async def _start_session(self, builder: str, path: Path) -> tuple[Session | None, str]:
        if self.opencode is None:
            return None, NO_SERVER_NOTE
        from tools.opencode import OpenCodeError

        try:
            session = await self.opencode.create_session(
                str(path), title=builder, permission=self.session_permission
            )
        except (OpenCodeError, OSError) as e:
            return None, f"OpenCode session not started: {e}"
        return Session(session.id, "idle"), ""

    async def _find_session(self, path: Path) -> tuple[Session | None, str]:
        """The newest root session whose directory is the builder's: nothing is stored twice."""
        if self.opencode is None:
            return None, NO_SERVER_NOTE
        from tools.opencode import OpenCodeError

        try:
            sessions = await self.opencode.list_sessions(directory=str(path))
            found = next((s for s in sessions if s.parent_id is None), None)
            if found is None:
                return None, "no OpenCode session for this builder"
            statuses = await self.opencode.session_status(directory=str(path))
        except (OpenCodeError, OSError) as e:
            return None, f"OpenCode server unreachable: {e}"
        state = statuses.get(found.id)
        return Session(found.id, state.type if state else "idle"), ""

    # -- terminate ------------------------------------------------------------------------------

    async def dirty_report(self, name: str) -> DirtyReport:
        """What terminating `name` would lose, per worktree."""
        path = self._existing(name)
        worktrees, stray = await asyncio.to_thread(self._worktrees, path)
        return await self._dirt(name, worktrees, stray)

    async def _dirt(
        self, name: str, worktrees: tuple[Worktree, ...], stray: tuple[str, ...]
    ) -> DirtyReport:
        branch = branch_for(name)
        dirt = await asyncio.gather(
            *(asyncio.to_thread(_git.dirt, w.repo, w.path, w.source, branch) for w in worktrees)
        )
        return DirtyReport(name=name, worktrees=tuple(dirt), stray=stray)

    async def terminate_builder(self, name: str, force: bool = False) -> TerminateResult:
        """Remove a clean builder; a dirty one only with force=True. Branches are kept."""
        path = self._existing(name)
        worktrees, stray = await asyncio.to_thread(self._worktrees, path)
        report = await self._dirt(name, worktrees, stray)
        if not report.clean and not force:
            return TerminateResult(
                name=name,
                done=False,
                report=report,
                refused="it holds work that would be lost (force removes it anyway)",
            )
        session, _ = await self._find_session(path)
        aborted = False
        if session is not None and session.status != "idle":
            # abort, never delete: the session's history stays readable
            await self.opencode.abort(session.id, directory=str(path))  # type: ignore[union-attr]
            aborted = True
        # the Taskfile's cleanup refuses dirty worktrees by design, so a forced removal is native
        backend = "native" if force else self.resolved_backend()
        output = ""
        if backend == "taskfile":
            output = await asyncio.to_thread(
                run_task, self.root, "builder:cleanup", {"BUILDER_NAME": name}
            )
        else:
            await asyncio.gather(
                *(
                    asyncio.to_thread(_git.remove_worktree, w.source, w.path, force=force)
                    for w in worktrees
                )
            )
        # every repo the builder touched, including one whose worktree folder vanished by hand
        sources = _unique_paths([*(w.source for w in worktrees), *self._repos_pointing_into(path)])
        await asyncio.gather(*(asyncio.to_thread(_git.prune, s) for s in sources))
        await asyncio.to_thread(self._remove_directory, path, force or backend == "native", output)
        kept = tuple(f"{w.repo}: {w.branch}" for w in worktrees if w.branch)
        return TerminateResult(
            name=name,
            done=True,
            report=report,
            forced=force and not report.clean,
            removed=(*(w.path for w in worktrees), path),
            branches_kept=kept,
            session=session,
            session_aborted=aborted,
            output=output,
        )

    def _repos_pointing_into(self, path: Path) -> list[Path]:
        """Repos (workspace, repos/*) with a worktree entry inside `path`, read from their files."""
        candidates = [self.root]
        repos_dir = self.root / "repos"
        if repos_dir.is_dir():
            candidates += sorted(p for p in repos_dir.iterdir() if (p / ".git").is_dir())
        found = []
        for repo in candidates:
            for gitdir in (repo / ".git" / "worktrees").glob("*/gitdir"):
                try:
                    target = Path(gitdir.read_text().strip())
                except OSError:
                    continue
                if target.is_relative_to(path):
                    found.append(repo)
                    break
        return found

    def _remove_directory(self, path: Path, everything: bool, output: str) -> None:
        if not path.exists():
            return
        left = [p for p in path.rglob("*") if not p.is_dir()]
        if left and not everything:
            raise OrchestratorError(
                f"`task builder:cleanup` left files in {path}: "
                + ", ".join(str(p.relative_to(path)) for p in left[:5]),
                path=path,
                output=output,
            )
        shutil.rmtree(path)

    # -- inspect --------------------------------------------------------------------------------

    async def builder_status(self, name: str) -> BuilderStatus:
        """Per worktree: clean or dirty, ahead/behind upstream, last commit; the session's state."""
        path = self._existing(name)
        entries = sorted((p for p in path.iterdir() if p.is_dir()), key=_workspace_root_first)
        statuses = await asyncio.gather(
            *(asyncio.to_thread(_git.status, p.name, p) for p in entries)
        )
        session, note = await self._find_session(path)
        return BuilderStatus(
            name=name,
            project_id=_project_id_of(name),
            path=path,
            worktrees=tuple(statuses),
            session=session,
            session_note=note,
        )

    async def list_builders(self) -> list[BuilderStatus]:
        """Every builder on disk (a folder under .builders/ holding a worktree), by name."""
        names = await asyncio.to_thread(builder_directories, self.root, with_worktree=True)
        return list(await asyncio.gather(*(self.builder_status(n) for n in names)))

    async def reconcile(self) -> ReconcileReport:
        """Differences between the project list and the disk; reported, never acted on."""
        return await asyncio.to_thread(self._reconcile)

    def _reconcile(self) -> ReconcileReport:
        projects = self._projects()
        by_id = {p.id: p for p in projects}
        builders = builders_root(self.root)
        on_disk: dict[str, list[str]] = {}
        not_implementing: list[BuilderOnProject] = []
        orphans: list[Orphan] = []
        for entry in sorted(builders.iterdir()) if builders.is_dir() else []:
            project_id = _match_project(entry.name, by_id)
            if not entry.is_dir() or entry.is_symlink():
                orphans.append(Orphan(entry, "not a directory"))
            elif project_id is None:
                holds = any(_git.is_worktree(p) for p in entry.iterdir())
                reason = "matches no project in the project list"
                orphans.append(Orphan(entry, reason + ("" if holds else " and holds no worktree")))
            else:
                on_disk.setdefault(project_id, []).append(entry.name)
                status = by_id[project_id].status
                if status != "implementing":
                    not_implementing.append(BuilderOnProject(entry.name, project_id, status))
        missing = tuple(
            p.id for p in projects if p.status == "implementing" and p.id not in on_disk
        )
        return ReconcileReport(
            builders_not_implementing=tuple(not_implementing),
            implementing_without_builder=missing,
            orphan_directories=tuple(orphans),
            stale_worktrees=tuple(self._stale_worktrees(builders)),
        )

    def _stale_worktrees(self, builders: Path) -> list[StaleWorktree]:
        stale: list[StaleWorktree] = []
        sources = [(WORKSPACE_ROOT, self.root)]
        repos_dir = self.root / "repos"
        if repos_dir.is_dir():
            sources += [(p.name, p) for p in sorted(repos_dir.iterdir()) if (p / ".git").exists()]
        for repo, source in sources:
            try:
                entries = _git.list_worktrees(source)
            except GitCommandError:
                continue
            for entry in entries:
                if not entry.path.is_relative_to(builders):
                    continue
                if entry.prunable or not entry.path.exists():
                    stale.append(
                        StaleWorktree(repo, entry.path, "directory gone, git still lists it")
                    )
        # worktree directories whose git entry was pruned away
        for builder in sorted(builders.iterdir()) if builders.is_dir() else []:
            for sub in sorted(builder.iterdir()) if builder.is_dir() else []:
                if _git.is_worktree(sub) and _source_of(sub) is None:
                    stale.append(StaleWorktree(sub.name, sub, "git no longer lists this worktree"))
        return stale

    # -- sync -----------------------------------------------------------------------------------

    async def sync_builder(self, name: str) -> SyncResult:
        """Push each builder branch that has a remote; report what was pushed."""
        path = self._existing(name)
        worktrees, _ = await asyncio.to_thread(self._worktrees, path)
        pushes = await asyncio.gather(*(asyncio.to_thread(_push, w) for w in worktrees))
        return SyncResult(name=name, pushes=tuple(pushes))


def _push(worktree: Worktree) -> Push:
    branch = worktree.branch
    if not branch:
        return Push(worktree.repo, "", None, False, detail="no branch checked out")
    remotes = _git.remotes(worktree.source)
    if not remotes:
        return Push(worktree.repo, branch, None, False, detail="no remote configured")
    configured = (
        Repo(worktree.source).config_reader().get_value(f'branch "{branch}"', "remote", default="")
    )
    remote = (
        str(configured)
        if configured in remotes
        else ("origin" if "origin" in remotes else remotes[0])
    )
    try:
        commits, _ = _git.push(worktree.source, remote, branch)
    except GitCommandError as e:
        detail = (e.stderr or str(e)).strip().splitlines()[-1:] or [""]
        return Push(worktree.repo, branch, remote, False, detail=detail[0].strip())
    return Push(worktree.repo, branch, remote, True, commits=commits)


def _workspace_root_first(path: Path) -> tuple[bool, str]:
    return path.name != WORKSPACE_ROOT, path.name


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _unique_paths(items: Iterable[Path]) -> list[Path]:
    return list(dict.fromkeys(items))


def _source_of(worktree: Path) -> Path | None:
    """The repository a worktree belongs to, from its `.git` file; None when git forgot it."""
    try:
        gitdir = Path((worktree / ".git").read_text().removeprefix("gitdir:").strip())
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    except OSError:
        return None
    return common.parent if common.name == ".git" else common


def _project_id_of(name: str) -> str:
    return name.partition("-")[0]


def _match_project(name: str, projects: dict[str, Any]) -> str | None:
    """The longest project id that `name` starts with, followed by '-' (or equal to it)."""
    best = None
    for project_id in projects:
        if (name == project_id or name.startswith(f"{project_id}-")) and (
            best is None or len(project_id) > len(best)
        ):
            best = project_id
    return best


def _exclude_builders(root: Path) -> None:
    """Keep `.builders/` out of the workspace repository's `git status` (its info/exclude)."""
    exclude = Path(Repo(root).common_dir) / "info" / "exclude"
    line = "/.builders/"
    text = exclude.read_text() if exclude.is_file() else ""
    if line not in text.splitlines():
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as f:
            f.write(("" if text.endswith("\n") or not text else "\n") + line + "\n")


def builder_directories(workspace_root: Path, *, with_worktree: bool = False) -> list[str]:
    """Names of the folders under `.builders/` with safe names (and a worktree inside, if asked)."""
    builders = Path(workspace_root) / BUILDERS_DIR
    if not builders.is_dir():
        return []
    names = []
    for entry in sorted(builders.iterdir()):
        try:
            check_safe(entry.name, "builder name")
        except OrchestratorError:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if with_worktree and not any(_git.is_worktree(p) for p in entry.iterdir()):
                continue
            names.append(entry.name)
    return names


def builders_by_project(workspace_root: Path, project_ids: Iterable[str]) -> dict[str, list[str]]:
    """Builder names per project id from directory names alone: cheap, for `foreman projects`."""
    ids = {str(i): i for i in project_ids}
    result: dict[str, list[str]] = {}
    for name in builder_directories(workspace_root):
        project_id = _match_project(name, ids)
        if project_id is not None:
            result.setdefault(project_id, []).append(name)
    return result

"""The orchestrator: creates, inspects, syncs and terminates builders in `<workspace>/.builders/`.

Every public method is async (git work runs in threads) so the assistant and the CLI call the same
code. It reads the project list and never edits it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from git import GitCommandError, Repo

from tools.orchestrator import _diff, _dirt, _git, _inspect, _teardown
from tools.orchestrator._archive import DEFAULT_RETENTION_DAYS, prune_archives, write_archive
from tools.orchestrator._diff import BuilderDiff
from tools.orchestrator._errors import OrchestratorError
from tools.orchestrator._names import (
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
    BuilderPlan,
    BuilderStatus,
    DirtyReport,
    ReconcileReport,
    Session,
    SyncResult,
    TerminateResult,
    Worktree,
)
from tools.orchestrator._scan import (
    CreationMarker,
    builder_directories,
    read_marker,
    remove_marker,
    write_marker,
)
from tools.orchestrator._sessions import DEFAULT_SESSION_PERMISSION, NO_SERVER_NOTE
from tools.orchestrator._taskfile import find_taskfile, run_task, task_binary

if TYPE_CHECKING:
    from tools.opencode import OpenCodeClient
    from tools.projectlist import Project, ProjectList
    from tools.workspace import Workspace


class Orchestrator:
    """Builders of one workspace: `<root>/.builders/<id>-<slug>/{workspace-root,<repo>...}`."""

    def __init__(
        self,
        workspace: Workspace,
        opencode: OpenCodeClient | None = None,
        backend: Literal["auto", "native", "taskfile"] = "auto",
        session_permission: Sequence[dict[str, str]] = DEFAULT_SESSION_PERMISSION,
        regenerable: Sequence[str] = _dirt.DEFAULT_REGENERABLE,
        archive_dir: Path | None = None,
        archive_retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        """`regenerable`: ignored paths a build makes again, which never block a terminate.
        `archive_dir`: where a forced terminate keeps what it discards (the caller's state
        directory; by default inside the workspace repository's git directory), for
        `archive_retention_days`."""
        if backend not in ("auto", "native", "taskfile"):
            raise OrchestratorError(f"unknown back-end {backend!r}: use auto, native or taskfile")
        self.workspace = workspace
        self.root = Path(workspace.root).resolve()
        self.opencode = opencode
        self.backend = backend
        self.session_permission = [dict(rule) for rule in session_permission]
        self.regenerable = tuple(regenerable)
        self.archive_dir = archive_dir
        self.archive_retention_days = archive_retention_days
        self._listing: tuple[tuple[int, int, int], ProjectList] | None = None

    # -- layout ---------------------------------------------------------------------------------

    def source(self, repo: str) -> Path:
        """The repository a worktree named `repo` comes from."""
        return _inspect.source_path(self.root, repo)

    def resolved_backend(self) -> Backend:
        taskfile = find_taskfile(self.root)
        if self.backend == "taskfile" and taskfile is None:
            raise OrchestratorError(
                f"no Taskfile in {self.root} defines builder:init and builder:cleanup"
            )
        if self.backend == "native":
            return "native"
        if self.backend == "taskfile" and task_binary() is None:
            raise OrchestratorError(
                "the `task` binary was not found (install go-task-bin or set FOREMAN_TASK_BIN)"
            )
        # auto: the Taskfile only when `task` can run it
        return "taskfile" if taskfile and task_binary() else "native"

    def builder_path(self, name: str) -> Path:
        """`<root>/.builders/<name>`, resolved: the directory its OpenCode session is bound to."""
        return builder_path(self.root, name)

    def _existing(self, name: str) -> Path:
        path = self.builder_path(name)
        if not path.is_dir():
            raise OrchestratorError(f"no builder named {name}: {path} does not exist", path=path)
        return path

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
        # one trip to a thread: the project list, the repositories, the disk
        return await asyncio.to_thread(self._plan_now, project_id, extra, name)

    def _plan_now(
        self, project_id: str, extra: tuple[str, ...], name: str | None
    ) -> tuple[BuilderPlan, dict[str, str]]:
        project = self._project(project_id)
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
        heads = self._preflight(builder, path, branch, plan)
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

        marker = CreationMarker(
            branch, os.getpid(), heads, {key: str(source) for key, source in plan}
        )
        await asyncio.to_thread(self._claim, path.parent, path, marker)
        try:
            output = await self._make_worktrees(backend, builder, path, branch, plan, repos)
        except BaseException:
            await asyncio.to_thread(self._rollback, path, branch, plan, heads)
            raise
        remove_marker(path)
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

    def _project_list(self) -> ProjectList:
        """The project list, parsed again only when the file changed (identity, size, mtime)."""
        from tools.projectlist import ProjectListError, load

        listing = Path(self.workspace.projectlist_path)
        try:
            info = listing.stat()
            key = (info.st_ino, info.st_size, info.st_mtime_ns)
            if self._listing is None or self._listing[0] != key:
                self._listing = (key, load(listing))
        except ProjectListError as e:  # names the file and line
            raise OrchestratorError(f"cannot read the project list: {e}", path=listing) from None
        except OSError as e:
            raise OrchestratorError(f"cannot read the project list {listing}: {e}") from None
        return self._listing[1]

    def _projects(self) -> tuple[Project, ...]:
        return self._project_list().projects

    def _project(self, project_id: str) -> Project:
        """The project list's own lookup: "16" finds 0016, as `foreman project 16` does."""
        from tools.projectlist import ProjectListError

        plist = self._project_list()
        try:
            return plist.find(project_id)
        except ProjectListError:
            listing = self.workspace.projectlist_path
            raise OrchestratorError(
                f"project {project_id} not found in {listing}", path=listing
            ) from None

    def _preflight(
        self, builder: str, path: Path, branch: str, plan: list[tuple[str, Path]]
    ) -> dict[str, str]:
        """Refuse before anything is written; the HEAD each repo's branch will start from."""
        if path.exists() or path.is_symlink():
            if path.is_dir() and not path.is_symlink():
                worktrees, _ = _inspect.worktrees_in(self.root, path)
                reason = _teardown.partial_reason(worktrees, read_marker(path))
                if reason:
                    raise OrchestratorError(
                        f"builder {builder} is partial ({reason}); remove it first: "
                        f"foreman builder terminate {builder}",
                        path=path,
                    )
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
            heads[key] = repo.head
        return heads

    def _claim(self, builders: Path, path: Path, marker: CreationMarker) -> None:
        builders.mkdir(exist_ok=True)
        _exclude_builders(self.root)
        try:
            # an atomic claim: of two concurrent creates, the second stops here
            path.mkdir()
        except FileExistsError:
            raise OrchestratorError(
                f"builder {path.name} already exists at {path}", path=path
            ) from None
        # left behind only when this process dies before the builder is whole
        write_marker(path, marker)

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
        remove_marker(path)

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

    async def dirty_report(self, name: str, *, with_content: bool = False) -> DirtyReport:
        """What terminating `name` would lose, per worktree. `with_content` also hashes every
        file that would go, setting `fingerprint`: a force card's precondition is the content."""
        path = self._existing(name)
        worktrees, stray, marker = await asyncio.to_thread(self._survey, path)
        return await self._report(name, path, worktrees, stray, marker, with_content)

    def _survey(
        self, path: Path
    ) -> tuple[tuple[Worktree, ...], tuple[str, ...], CreationMarker | None]:
        worktrees, stray = _inspect.worktrees_in(self.root, path)
        return worktrees, stray, read_marker(path)

    async def _report(
        self,
        name: str,
        path: Path,
        worktrees: tuple[Worktree, ...],
        stray: tuple[str, ...],
        marker: CreationMarker | None,
        with_content: bool,
    ) -> DirtyReport:
        branch = branch_for(name)
        dirt = await asyncio.gather(
            *(
                asyncio.to_thread(
                    _dirt.dirt,
                    w.repo,
                    w.path,
                    w.source,
                    branch,
                    self.regenerable,
                    unfinished=marker is not None,
                )
                for w in worktrees
            )
        )
        report = DirtyReport(
            name=name,
            worktrees=tuple(dirt),
            stray=stray,
            partial=_teardown.partial_reason(worktrees, marker),
        )
        if with_content:
            report = await asyncio.to_thread(_teardown.with_content, report, path)
        return report

    async def terminate_builder(
        self, name: str, force: bool = False, expected_fingerprint: str | None = None
    ) -> TerminateResult:
        """Remove a builder whose every worktree can go, all or nothing. A dirty one only with
        force=True, after archiving what would be discarded. Branches are kept.

        `expected_fingerprint`: refuse unless what would be discarded is, byte for byte, what a
        `dirty_report(with_content=True)` showed (the fingerprint on an approved card).
        """
        path = self._existing(name)
        worktrees, stray, marker = await asyncio.to_thread(self._survey, path)
        blockers = _teardown.blockers(worktrees, marker)  # a few stat calls
        content = force or expected_fingerprint is not None
        report = await self._report(name, path, worktrees, stray, marker, content)

        def refuse(reason: str) -> TerminateResult:
            return TerminateResult(name=name, done=False, report=report, refused=reason)

        if blockers:
            return refuse("; ".join(blockers) + "; nothing was removed")
        if expected_fingerprint is not None and report.fingerprint != expected_fingerprint:
            changed = refuse("its work changed since it was shown; nothing was removed")
            return dataclasses.replace(changed, changed=True)
        if not report.clean and not force:
            return refuse("it holds work that would be lost (force removes it anyway)")
        archive = None
        if not report.clean:
            archive_dir = self.archive_dir or _teardown.default_archive_dir(self.root)
            archive = await asyncio.to_thread(write_archive, archive_dir, path, report, worktrees)
            await asyncio.to_thread(prune_archives, archive_dir, self.archive_retention_days)
        session, _ = await self._find_session(path)
        aborted = False
        if session is not None and session.status != "idle":
            # abort, never delete: the session's history stays readable
            await self.opencode.abort(session.id, directory=str(path))  # type: ignore[union-attr]
            aborted = True
        # the Taskfile's cleanup refuses dirty worktrees by design, so a forced removal is
        # native; so is a partial builder's, which the Taskfile never finished making
        partial = report.partial is not None
        backend = "native" if force or partial else self.resolved_backend()
        output = ""
        if backend == "taskfile":
            output = await asyncio.to_thread(
                run_task, self.root, "builder:cleanup", {"BUILDER_NAME": name}
            )
        else:
            await asyncio.gather(
                *(
                    asyncio.to_thread(
                        _git.remove_worktree, w.source, w.path, force=force or partial
                    )
                    for w in worktrees
                )
            )
        everything = force or partial or backend == "native"
        await asyncio.to_thread(self._after_removal, path, marker, everything, output)
        kept = tuple(
            f"{w.repo}: {w.branch}"
            for w in worktrees
            if w.branch
            and (marker is None or _git.has_branch(_git.open_repo(w.source, w.repo), w.branch))
        )
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
            archive=archive.path if archive else None,
            restore=archive.restore if archive else "",
            retention_days=self.archive_retention_days if archive else 0,
        )

    def _after_removal(
        self, path: Path, marker: CreationMarker | None, everything: bool, output: str
    ) -> None:
        # a worktree whose folder vanished by hand is still listed by its repository
        for source in _teardown.repos_pointing_into(self.root, path):
            _git.prune(source)
        if marker is not None:
            _teardown.undo_branches(marker)
        _teardown.remove_directory(path, everything, output)
        remove_marker(path)

    # -- inspect --------------------------------------------------------------------------------

    async def builder_status(self, name: str) -> BuilderStatus:
        """Per worktree: what terminate would lose (the same report), ahead/behind upstream, last
        commit; the session's state."""
        path = self._existing(name)
        worktrees, stray, marker = await asyncio.to_thread(self._survey, path)
        branch = branch_for(name)
        unfinished = marker is not None
        statuses = await asyncio.gather(
            *(
                asyncio.to_thread(_inspect.worktree_status, w, branch, self.regenerable, unfinished)
                for w in worktrees
            )
        )
        session, note = await self._find_session(path)
        return BuilderStatus(
            name=name,
            project_id=_project_id_of(name),
            path=path,
            worktrees=tuple(statuses),
            session=session,
            session_note=note,
            stray=stray,
            partial=_teardown.partial_reason(worktrees, marker),
        )

    async def builder_diff(
        self, name: str, repo: str | None = None, *, patch: bool = False
    ) -> BuilderDiff:
        """What builder `name` changed, uncommitted and committed-but-unpushed apart."""
        path = self._existing(name)
        return await asyncio.to_thread(_diff.builder_diff, self.root, path, repo, patch=patch)

    async def list_builders(self) -> list[BuilderStatus]:
        """Every builder on disk, whole or partial (left by an interrupted create), by name."""
        names = await asyncio.to_thread(builder_directories, self.root)
        return list(await asyncio.gather(*(self.builder_status(n) for n in names)))

    async def reconcile(self) -> ReconcileReport:
        """Differences between the project list and the disk; reported, never acted on."""
        return await asyncio.to_thread(_inspect.reconcile, self.root, self._projects())

    # -- sync -----------------------------------------------------------------------------------

    async def sync_builder(self, name: str) -> SyncResult:
        """Push each builder branch that has a remote; report what was pushed."""
        path = self._existing(name)
        worktrees, _ = await asyncio.to_thread(_inspect.worktrees_in, self.root, path)
        pushes = await asyncio.gather(*(asyncio.to_thread(_inspect.push, w) for w in worktrees))
        return SyncResult(name=name, pushes=tuple(pushes))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _project_id_of(name: str) -> str:
    return name.partition("-")[0]


def _exclude_builders(root: Path) -> None:
    """Keep `.builders/` out of the workspace repository's `git status` (its info/exclude)."""
    exclude = _git.common_dir(root) / "info" / "exclude"
    line = "/.builders/"
    text = exclude.read_text() if exclude.is_file() else ""
    if line not in text.splitlines():
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as f:
            f.write(("" if text.endswith("\n") or not text else "\n") + line + "\n")

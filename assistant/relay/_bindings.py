"""Which chat talks to which builder, and which of its messages are addressed to the builder."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from assistant.messages import ChatRef
from assistant.relay._reports import Report, forget_removed, report_rows, reports_from_rows
from assistant.store import Store
from tools.orchestrator import (
    BUILDERS_DIR,
    OrchestratorError,
    builder_path,
    builders_by_project,
    check_safe,
)

log = logging.getLogger(__name__)

TriggerMode = Literal["all_messages", "mention", "prefix"]
DEFAULT_PATTERNS: dict[str, tuple[str, ...]] = {
    "all_messages": (),
    "mention": ("@opencode", "hey opencode"),
    "prefix": ("/code", "!opencode"),
}


@dataclass(frozen=True)
class Binding:
    """A chat surface (platform, chat, optional thread) tied to one builder."""

    platform: str
    chat_id: str
    builder: str
    thread_id: str | None = None
    trigger: TriggerMode = "all_messages"
    patterns: tuple[str, ...] = ()
    source: Literal["projectlist", "store"] = "store"
    # a project-list binding: its project's builders, in name order (the first one talks)
    builders: tuple[str, ...] = ()

    @property
    def chat_key(self) -> str:
        thread = f"#{self.thread_id}" if self.thread_id else ""
        return f"{self.platform}:{self.chat_id}{thread}"

    def chat(self) -> ChatRef:
        return ChatRef(self.platform, self.chat_id, self.thread_id, is_direct=False)  # type: ignore[arg-type]

    def addressed(self, text: str) -> str | None:
        """The text to forward when the message is for the builder, else None."""
        patterns = self.patterns or DEFAULT_PATTERNS.get(self.trigger, ())
        if self.trigger == "mention":
            lowered = text.lower()
            return text if any(p.lower() in lowered for p in patterns) else None
        if self.trigger == "prefix":
            for prefix in patterns:
                if text.lower().startswith(prefix.lower()):
                    return text[len(prefix) :].strip()
            return None
        return text


def builder_directory(workspace_root: Path, builder: str) -> Path:
    """The builder's directory, by the orchestrator's rule (refuses names that escape)."""
    return builder_path(workspace_root, builder)


def builder_for_project(workspace_root: Path, project_id: str) -> str:
    """The builder directory name of a project (`<id>-<slug>`), or the id when none exists yet."""
    return builders_by_project(workspace_root, [project_id]).get(project_id, [project_id])[0]


def is_safe_builder(builder: str) -> bool:
    """Whether a bound builder name stays inside `.builders/` (a stored or listed one may not)."""
    try:
        check_safe(builder, "builder name")
    except OrchestratorError:
        return False
    return True


def bindings_from_projects(projects: Iterable[Any], workspace_root: Path) -> list[Binding]:
    """Bindings declared in the project list (`chat_binding` with a `channel_id`)."""
    declared = [
        p
        for p in projects
        if getattr(p, "chat_binding", None) is not None and p.chat_binding.channel_id
    ]
    if not declared:
        return []
    # one scan of `.builders/` for every bound project, not one per project
    builders = builders_by_project(workspace_root, [p.id for p in declared])
    out: list[Binding] = []
    for project in declared:
        cb = project.chat_binding
        trigger = cb.trigger if cb.trigger in DEFAULT_PATTERNS else "all_messages"
        out.append(
            Binding(
                platform=cb.platform,
                chat_id=str(cb.channel_id),
                thread_id=str(cb.thread_id) if cb.thread_id else None,
                builder=builders.get(project.id, [project.id])[0],
                trigger=trigger,
                patterns=tuple(cb.patterns),
                source="projectlist",
                builders=tuple(builders.get(project.id, ())),
            )
        )
    return out


# how soon an event from an unknown builder directory re-reads the bindings and reports
MISS_RECHECK = 0.1

_BINDING_COLUMNS = "SELECT platform, chat_id, thread_id, builder, trigger_json FROM bindings"


def stored_bindings(store: Store) -> list[Binding]:
    return _bindings_from_rows(store.connection.execute(_BINDING_COLUMNS).fetchall())


def _bindings_from_rows(rows: Iterable[Any]) -> list[Binding]:
    out = []
    for platform, chat_id, thread_id, builder, trigger_json in rows:
        trigger = json.loads(trigger_json or "{}")
        out.append(
            Binding(
                platform=platform,
                chat_id=chat_id,
                thread_id=thread_id or None,
                builder=builder,
                trigger=trigger.get("trigger", "all_messages"),
                patterns=tuple(trigger.get("patterns", ())),
                source="store",
            )
        )
    return out


def save_binding(store: Store, binding: Binding, created_by: str) -> None:
    trigger = json.dumps({"trigger": binding.trigger, "patterns": list(binding.patterns)})
    with store.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO bindings "
            "(platform, chat_id, thread_id, builder, trigger_json, created_by, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                binding.platform,
                binding.chat_id,
                binding.thread_id or "",
                binding.builder,
                trigger,
                created_by,
                datetime.now(UTC).isoformat(),
            ),
        )


def remove_binding(store: Store, platform: str, chat_id: str, thread_id: str | None) -> None:
    """Forget a stored binding (its builder is gone); a lookup sees it within a second."""
    with store.transaction() as conn:
        conn.execute(
            "DELETE FROM bindings WHERE platform = ? AND chat_id = ? AND thread_id = ?",
            (platform, chat_id, thread_id or ""),
        )


@dataclass(frozen=True)
class _Index:
    """The bindings in force, and lookups over them that cost the same for 1 or 500 builders."""

    bindings: list[Binding]
    by_chat: dict[tuple[str, str, str | None], Binding]
    by_directory: dict[str, str]  # builder directory -> builder
    chats: dict[str, dict[str, ChatRef]]  # builder -> its chats by chat key

    @classmethod
    def of(cls, bindings: list[Binding], root: Path, reports: Iterable[Report] = ()) -> _Index:
        by_chat = {(b.platform, b.chat_id, b.thread_id or None): b for b in bindings}
        by_directory: dict[str, str] = {}
        chats: dict[str, dict[str, ChatRef]] = {}
        for b in bindings:
            by_directory.setdefault(str(builder_directory(root, b.builder)), b.builder)
            chats.setdefault(b.builder, {})[b.chat_key] = b.chat()
        for report in reports:
            # a DM hears a builder only while no chat is bound to it
            if report.builder not in chats and is_safe_builder(report.builder):
                by_directory[str(builder_directory(root, report.builder))] = report.builder
                chats[report.builder] = {report.chat.key: report.chat}
        return cls(bindings, by_chat, by_directory, chats)


class BoundChats:
    """The bindings in force: project-list ones, then `/bind` ones (which win for the same chat).

    Checked at most once a second, so a project-list edit or a /bind made by another process
    shows up within a second. The check is cheap and the index behind every lookup is rebuilt
    only when something changed: the project list's version (parsed once per version by
    tools.projectlist), the builder folders (a project's builder name comes from them) or the
    stored bindings. A `/bind` through this object is seen at once.
    """

    def __init__(
        self,
        store: Store,
        workspace: Any,
        projects: Callable[[], Iterable[Any]] | None = None,
    ) -> None:
        self.store = store
        # a tools.workspace.Workspace (its `.root`) or a plain path
        self.root = Path(workspace) if isinstance(workspace, str | Path) else Path(workspace.root)
        self.workspace = workspace
        self._builders_root = (self.root / BUILDERS_DIR).resolve()
        self._projects = projects
        self._checked_at: float | None = None
        self._declared_key: tuple[Any, ...] | None = None
        self._declared: list[Binding] = []
        self._stored_rows: list[tuple[Any, ...]] | None = None
        self._report_rows: list[tuple[str, str, str]] | None = None
        self._projects_seen: Iterable[Any] = ()
        self._index = _Index.of([], self.root)
        self.rebuilds = 0  # how many times the index was rebuilt (tests and benchmarks read it)

    def _declared_projects(self) -> Iterable[Any]:
        if self._projects is not None:
            return self._projects()
        from tools.projectlist import ProjectListError, load
        from tools.workspace import WorkspaceNotFound, find_workspace

        try:
            path = getattr(self.workspace, "projectlist_path", None)
            if path is None:
                path = find_workspace(workspace=self.root).projectlist_path
            # not strict: one bad entry must not unbind every other project's chat
            return load(path, strict=False).projects
        except (WorkspaceNotFound, ProjectListError) as exc:
            log.info("no project-list bindings (%s); using /bind ones only", exc)
            return ()

    def _builders_version(self) -> int:
        try:
            return (self.root / BUILDERS_DIR).stat().st_mtime_ns
        except OSError:
            return 0

    def _refresh(self) -> None:
        projects = self._declared_projects()
        # the project list is cached per file version: the same version is the same object
        declared_key = (id(projects), self._builders_version())
        changed = False
        if declared_key != self._declared_key:
            forget_removed(self.store, self._on_disk)  # `.builders/` changed: one may be gone
            self._declared = bindings_from_projects(projects, self.root)
            self._declared_key = declared_key
            self._projects_seen = projects  # keep it alive so its id stays its own
            changed = True
        rows = [tuple(r) for r in self.store.connection.execute(_BINDING_COLUMNS).fetchall()]
        if rows != self._stored_rows:
            self._stored_rows = rows
            changed = True
        reports = report_rows(self.store)
        if reports != self._report_rows:
            self._report_rows = reports
            changed = True
        if changed:
            self._rebuild()

    def _on_disk(self, builder: str) -> bool:
        return is_safe_builder(builder) and builder_directory(self.root, builder).is_dir()

    def _rebuild(self) -> None:
        by_chat: dict[str, Binding] = {}
        moves = self._moves()
        stored = _bindings_from_rows(self._stored_rows or ())
        # builders with a topic of their own in a group (Foreman made one per builder)
        threaded = {(b.platform, b.chat_id, b.builder) for b in stored if b.thread_id}
        for binding in self._declared:
            moved = moves.get((binding.platform, binding.chat_id))
            if moved is not None:  # the project list still names the chat's old id
                binding = replace(binding, chat_id=moved)
            if binding.thread_id is None and binding.builders:
                # the group itself talks to the project's first builder without a topic;
                # when every builder has its own, the group is theirs to share, bound to none
                free = [
                    b
                    for b in binding.builders
                    if (binding.platform, binding.chat_id, b) not in threaded
                ]
                if not free:
                    continue
                binding = replace(binding, builder=free[0])
            by_chat[binding.chat_key] = binding
        for binding in stored:
            by_chat[binding.chat_key] = binding
        found = []
        for binding in by_chat.values():
            if is_safe_builder(binding.builder):
                found.append(binding)
            else:  # a hand-edited store or project list must not point the relay outside
                log.warning(
                    "ignoring %s: unsafe builder name %r", binding.chat_key, binding.builder
                )
        reports = reports_from_rows(self._report_rows or ())
        self._index = _Index.of(found, self.root, reports)
        self.rebuilds += 1

    def _current(self, max_age: float = 1.0) -> _Index:
        now = time.monotonic()
        if self._checked_at is None or now - self._checked_at >= max_age:
            self._refresh()
            self._checked_at = now
        return self._index

    def all(self) -> list[Binding]:
        return self._current().bindings

    def builders(self) -> list[str]:
        """Every builder someone hears: bound to a chat, or reporting to a DM."""
        return sorted(self._current().chats)

    def move(self, platform: str, old_chat_id: str, new_chat_id: str) -> None:
        """A chat got a new id (a group became a supergroup): its bindings follow it."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE OR REPLACE bindings SET chat_id = ? WHERE platform = ? AND chat_id = ?",
                (new_chat_id, platform, old_chat_id),
            )
            conn.execute(
                "INSERT OR REPLACE INTO chat_moves (platform, old_chat_id, new_chat_id, moved_at) "
                "VALUES (?, ?, ?, ?)",
                (platform, old_chat_id, new_chat_id, datetime.now(UTC).isoformat()),
            )
        # rebuild at the next lookup, whatever the once-a-second check last saw
        self._stored_rows = None
        self._checked_at = None

    def _moves(self) -> dict[tuple[str, str], str]:
        rows = self.store.connection.execute(
            "SELECT platform, old_chat_id, new_chat_id FROM chat_moves"
        ).fetchall()
        return {(r["platform"], r["old_chat_id"]): r["new_chat_id"] for r in rows}

    def bind(self, binding: Binding, created_by: str) -> None:
        """Store a `/bind`; it is in force from the next lookup on."""
        save_binding(self.store, binding, created_by=created_by)
        self._checked_at = None

    def for_chat(self, chat: ChatRef) -> Binding | None:
        return self._current().by_chat.get((chat.platform, chat.chat_id, chat.thread_id or None))

    def directory(self, builder: str) -> str:
        return str(builder_directory(self.root, builder))

    def builder_of_directory(self, directory: str | None) -> str | None:
        if directory is None:
            return None
        builder = self._current().by_directory.get(directory)
        if builder is None and Path(directory).parent == self._builders_root:
            # a builder the assistant has just spoken to in another process: its first events
            # must not wait for the once-a-second check
            builder = self._current(max_age=MISS_RECHECK).by_directory.get(directory)
        return builder

    def chats_of(self, builder: str) -> dict[str, ChatRef]:
        """Every chat bound to `builder`, by chat key."""
        return dict(self._current().chats.get(builder, {}))

    def declared_projects(self) -> Iterable[Any]:
        """The project list's projects as read now (parsed once per file version)."""
        return self._declared_projects()

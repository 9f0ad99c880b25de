"""Which chat talks to which builder, and which of its messages are addressed to the builder."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from assistant.messages import ChatRef
from assistant.store import Store
from tools.orchestrator import (
    OrchestratorError,
    builder_path,
    builders_by_project,
    check_safe,
)

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
    out: list[Binding] = []
    for project in projects:
        cb = getattr(project, "chat_binding", None)
        if cb is None or not cb.channel_id:
            continue
        trigger = cb.trigger if cb.trigger in DEFAULT_PATTERNS else "all_messages"
        out.append(
            Binding(
                platform=cb.platform,
                chat_id=str(cb.channel_id),
                thread_id=str(cb.thread_id) if cb.thread_id else None,
                builder=builder_for_project(workspace_root, project.id),
                trigger=trigger,
                patterns=tuple(cb.patterns),
                source="projectlist",
            )
        )
    return out


def stored_bindings(store: Store) -> list[Binding]:
    rows = store.connection.execute(
        "SELECT platform, chat_id, thread_id, builder, trigger_json FROM bindings"
    ).fetchall()
    out = []
    for row in rows:
        trigger = json.loads(row["trigger_json"] or "{}")
        out.append(
            Binding(
                platform=row["platform"],
                chat_id=row["chat_id"],
                thread_id=row["thread_id"] or None,
                builder=row["builder"],
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

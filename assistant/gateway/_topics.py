"""A Telegram forum topic per builder, for projects whose binding names a forum group.

A `chat_binding` with `platform: telegram`, a `channel_id` and no `thread_id` binds a group.
When that group is a forum, each builder of the project gets a topic of its own, named after
it, once the builder's folder is complete under `.builders/` — however the builder was made
(chat, CLI, an MCP/A2A caller's approved request): the running gateway looks at the folders,
not at who made them. The topic is bound to the builder in the state (the project list is not
edited) and opens with a message saying what the builder is and how to talk to it. When the
folder goes (terminate), the topic gets a closing summary from the relay's history and is
closed. Each step is recorded, so a restart neither makes a second topic nor says a thing twice.

When no topic can be made, the builder talks in the group itself, through the project list's
binding (the group goes to the project's first builder without a topic of its own):
- the group is not a forum: recorded for that builder, not asked again; nothing to tell, it is
  the plain-group setup;
- the bot lacks the `can_manage_topics` right: the same, and the principal is told in one line
  which right to give (builders made after that get their topics);
- anything else (no network, a 5xx, flood control): logged and tried again later, with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from assistant.messages import ChatRef, Outbound
from assistant.relay import (
    DEFAULT_PATTERNS,
    Binding,
    exchanges,
    remove_binding,
    save_binding,
    trigger_line,
)
from assistant.store import Store
from tools.orchestrator import (
    BUILDERS_DIR,
    branch_for,
    builder_directories,
    marker_path,
    match_project,
)

log = logging.getLogger("foreman.gateway.topics")

Send = Callable[[Outbound], Awaitable[object]]
# seconds before a failed createForumTopic is tried again: the 1st, 2nd, … failure
RETRY_SECONDS = (5.0, 30.0, 120.0, 600.0)
WORKSPACE_ROOT = "workspace-root"  # the worktree of the workspace repository itself
LAST_LINE_CHARS = 300


class TopicChannel(Protocol):
    async def create_topic(self, chat_id: str, name: str) -> ChatRef: ...

    async def close_topic(self, chat: ChatRef) -> bool: ...


@dataclass(frozen=True)
class Topic:
    """A row of `forum_topics`: a builder's topic (or its fallback to the group)."""

    id: int
    builder: str
    project_id: str
    chat_id: str
    thread_id: str | None
    state: str  # open | group | closed
    greeted: bool
    summarised: bool

    def chat(self) -> ChatRef:
        return ChatRef("telegram", self.chat_id, self.thread_id, is_direct=False)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ForumTopics:
    """Makes, greets and closes the builders' topics; `run` checks every `every_seconds`."""

    def __init__(
        self,
        channel: TopicChannel,
        send: Send,
        store: Store,
        workspace_root: Path,
        projects: Callable[[], Iterable[Any]],
        principals: Callable[[], Iterable[str]],
        *,
        every_seconds: float = 2.0,
        retry_seconds: tuple[float, ...] = RETRY_SECONDS,
        bind: Callable[[Binding, str], None] | None = None,
    ) -> None:
        self.channel = channel
        self.send = send
        self.store = store
        self.root = Path(workspace_root)
        self.projects = projects
        self.principals = principals
        self.every_seconds = every_seconds
        self.retry_seconds = retry_seconds
        # the relay's own `bind` when it runs here: the topic is in force at once, not within
        # a second, so a reply typed right after the first message is not missed
        self.bind = bind or (lambda binding, by: save_binding(store, binding, created_by=by))
        self._failures: dict[str, tuple[int, float]] = {}  # builder -> (failures, next try)
        self._lock = asyncio.Lock()

    # --- what is there ---------------------------------------------------------------------

    def topics(self, builder: str | None = None) -> list[Topic]:
        """Every recorded topic (of one builder), oldest first."""
        query = (
            "SELECT id, builder, project_id, chat_id, thread_id, state, greeted_at, "
            "summary_sent_at FROM forum_topics"
        )
        args: tuple[str, ...] = ()
        if builder is not None:
            query += " WHERE builder = ?"
            args = (builder,)
        rows = self.store.connection.execute(query + " ORDER BY id", args).fetchall()
        return [
            Topic(
                r["id"],
                r["builder"],
                r["project_id"],
                r["chat_id"],
                r["thread_id"],
                r["state"],
                r["greeted_at"] is not None,
                r["summary_sent_at"] is not None,
            )
            for r in rows
        ]

    def _forum_projects(self) -> dict[str, Any]:
        """Projects whose binding names a Telegram group and no topic, by id."""
        out = {}
        for project in self.projects():
            binding = getattr(project, "chat_binding", None)
            if binding is None or binding.platform != "telegram":
                continue
            if binding.channel_id and not binding.thread_id:
                out[project.id] = project
        return out

    def _chat_id(self, declared: str) -> str:
        # a group that became a supergroup: the project list still names its old id
        row = self.store.connection.execute(
            "SELECT new_chat_id FROM chat_moves WHERE platform = 'telegram' AND old_chat_id = ?",
            (declared,),
        ).fetchone()
        return str(row["new_chat_id"]) if row else declared

    def topic_gone(self, chat: ChatRef) -> None:
        """A builder's topic was deleted by hand: forget it, and the next round makes a new one
        (a topic closed by hand is left closed: that was the principal's choice)."""
        for topic in self.topics():
            if topic.state == "open" and topic.chat() == chat:
                remove_binding(self.store, "telegram", topic.chat_id, topic.thread_id)
                with self.store.transaction() as conn:
                    conn.execute(
                        "UPDATE forum_topics SET state = 'closed', reason = 'deleted', "
                        "closed_at = ? WHERE id = ?",
                        (_now(), topic.id),
                    )
                log.warning("telegram: topic of builder %s was deleted", topic.builder)

    # --- the rounds ------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:  # the next round tries again
                log.exception("telegram: looking after builder topics failed")
            await asyncio.sleep(self.every_seconds)

    async def once(self) -> None:
        """One round: topics for new builders, greetings owed, summaries for gone ones."""
        async with self._lock:
            on_disk = set(builder_directories(self.root))
            # a create under way (or killed half-way) is not a builder to talk to yet
            whole = {n for n in on_disk if not marker_path(self.root / BUILDERS_DIR / n).exists()}
            live = {t.builder: t for t in self.topics() if t.state != "closed"}
            projects = self._forum_projects()
            for builder in sorted(whole - live.keys()):
                project_id = match_project(builder, projects)
                if project_id is not None and self._due(builder):
                    await self._make(projects[project_id], builder)
            for topic in live.values():
                if topic.builder not in on_disk:
                    await self._retire(topic)
                elif topic.state == "open" and not topic.greeted:
                    await self._greet(topic, projects.get(topic.project_id))

    def _due(self, builder: str) -> bool:
        failures = self._failures.get(builder)
        return failures is None or time.monotonic() >= failures[1]

    async def _make(self, project: Any, builder: str) -> None:
        from assistant.channels import ChannelError
        from assistant.channels.telegram import TopicRefused

        declared = project.chat_binding
        chat_id = self._chat_id(str(declared.channel_id))
        try:
            chat = await self.channel.create_topic(chat_id, builder)
        except TopicRefused as exc:
            self._record(builder, project.id, exc.chat_id, None, "group", exc.reason)
            if exc.reason == "not_forum":
                log.info("telegram: group %s has no topics; %s talks there", chat_id, builder)
            elif exc.reason == "no_rights":
                log.warning("telegram: no right to make topics in %s (%s)", chat_id, exc.detail)
                await self._tell_principals(
                    f"⚠️ Builder {builder} has no topic of its own: give me the admin right "
                    f'"Manage topics" in group {chat_id}. It talks in the group itself for now.'
                )
            else:
                log.warning("telegram: no topic for %s in %s: %s", builder, chat_id, exc.detail)
            return
        except ChannelError as exc:
            count = self._failures.get(builder, (0, 0.0))[0] + 1
            wait = self.retry_seconds[min(count, len(self.retry_seconds)) - 1]
            self._failures[builder] = (count, time.monotonic() + wait)
            log.warning(
                "telegram: topic for builder %s not made (%s); trying again in %.0f s",
                builder,
                exc,
                wait,
            )
            return
        self._failures.pop(builder, None)
        # recorded at once: a restart from here on finds it and never makes a second one
        self._record(builder, project.id, chat.chat_id, chat.thread_id, "open", None)
        trigger = declared.trigger if declared.trigger in DEFAULT_PATTERNS else "all_messages"
        binding = Binding(
            platform="telegram",
            chat_id=chat.chat_id,
            thread_id=chat.thread_id,
            builder=builder,
            trigger=trigger,
            patterns=tuple(declared.patterns),
        )
        self.bind(binding, "gateway")
        log.info("telegram: topic %s made for builder %s", chat.key, builder)
        (topic,) = [t for t in self.topics(builder) if t.state == "open"]
        await self._greet(topic, project)

    def _record(
        self,
        builder: str,
        project_id: str,
        chat_id: str,
        thread_id: str | None,
        state: str,
        reason: str | None,
    ) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO forum_topics (builder, project_id, platform, chat_id, thread_id, "
                "name, state, reason, created_at) VALUES (?, ?, 'telegram', ?, ?, ?, ?, ?, ?)",
                (builder, project_id, chat_id, thread_id, builder, state, reason, _now()),
            )

    def _mark(self, topic: Topic, column: str, state: str | None = None) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                f"UPDATE forum_topics SET {column} = ?, state = COALESCE(?, state) WHERE id = ?",
                (_now(), state, topic.id),
            )

    async def _greet(self, topic: Topic, project: Any) -> None:
        text = first_message(self.root, topic.builder, project)
        try:
            await self.send(Outbound(topic.chat(), text, kind="notification"))
        except Exception as exc:  # said on the next round
            log.warning("telegram: greeting in %s failed (%s); later", topic.chat().key, exc)
            return
        self._mark(topic, "greeted_at")

    async def _retire(self, topic: Topic) -> None:
        """The builder is gone: a closing summary in its topic, then the topic is closed."""
        from assistant.channels import ChannelError
        from assistant.channels.telegram import TopicRefused

        if topic.state == "group":
            self._mark(topic, "closed_at", "closed")
            return
        if not topic.summarised:
            try:
                text = closing_summary(self.store, topic.builder)
                await self.send(Outbound(topic.chat(), text, kind="notification"))
            except Exception as exc:
                log.warning("telegram: summary for %s failed (%s); later", topic.builder, exc)
                return
            self._mark(topic, "summary_sent_at")
        try:
            await self.channel.close_topic(topic.chat())
        except TopicRefused as exc:  # e.g. the bot was removed: nothing left to close
            log.warning("telegram: closing topic of %s refused: %s", topic.builder, exc.detail)
        except ChannelError as exc:
            log.warning("telegram: closing topic of %s failed (%s); later", topic.builder, exc)
            return
        remove_binding(self.store, "telegram", topic.chat_id, topic.thread_id)
        self._mark(topic, "closed_at", "closed")
        log.info("telegram: topic of builder %s closed", topic.builder)

    async def _tell_principals(self, text: str) -> None:
        for user in sorted(self.principals()):
            try:
                await self.send(Outbound(ChatRef("telegram", user), text, kind="notification"))
            except Exception as exc:
                log.warning("telegram: telling %s failed: %s", user, exc)


def worktrees(directory: Path) -> list[str]:
    """The builder's worktrees, the workspace repository's first."""
    try:
        names = sorted(p.name for p in directory.iterdir() if (p / ".git").exists())
    except OSError:
        return []
    return sorted(names, key=lambda n: n != WORKSPACE_ROOT)


def first_message(root: Path, builder: str, project: Any) -> str:
    """What opens a builder's topic: what it works on, where, and how to talk to it."""
    lines = [f"🔨 Builder {builder}"]
    if project is not None:
        lines[0] += f' for project {project.id} "{project.title}"'
    repos = worktrees(root / BUILDERS_DIR / builder)
    if repos:
        lines.append("Repos: " + ", ".join(repos))
    lines.append(f"Branch: {branch_for(builder)}")
    declared = getattr(project, "chat_binding", None)
    trigger = getattr(declared, "trigger", "all_messages")
    lines.append(trigger_line(trigger, tuple(getattr(declared, "patterns", ()))))
    lines.append("/help lists the commands (/status, /diff, /stop, …).")
    return "\n".join(lines)


def closing_summary(store: Store, builder: str) -> str:
    """What the relay's history knows of a terminated builder, for its topic's last message."""
    found = exchanges(store, builder)
    turns = [e for e in found if e.prompt]
    lines = [f"🏁 Builder {builder} was terminated."]
    if turns:
        last = turns[-1].at[:16].replace("T", " ")
        lines.append(f"Messages relayed: {len(turns)}, the last at {last} UTC.")
    else:
        lines.append("No message was relayed to it here.")
    replies = [r for e in found for r in e.replies]
    done = [r for r in replies if r.startswith("✅")]
    if done:
        line = done[-1].replace("\n", " ")
        if len(line) > LAST_LINE_CHARS:
            line = line[: LAST_LINE_CHARS - 1] + "…"
        lines.append(f"Last: {line}")
    lines.append("This topic is closed now; what was said stays here.")
    return "\n".join(lines)

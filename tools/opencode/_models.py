from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StatusType = Literal["busy", "retry", "idle"]


@dataclass(frozen=True)
class Session:
    id: str
    directory: str
    title: str = ""
    slug: str = ""
    parent_id: str | None = None
    created: int = 0  # ms since the epoch, as the server reports
    updated: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        times = data.get("time") or {}
        return cls(
            id=data["id"],
            directory=data.get("directory", ""),
            title=data.get("title", ""),
            slug=data.get("slug", ""),
            parent_id=data.get("parentID"),
            created=int(times.get("created") or 0),
            updated=int(times.get("updated") or 0),
            raw=data,
        )


@dataclass(frozen=True)
class SessionStatus:
    type: StatusType
    attempt: int | None = None
    message: str | None = None
    next: int | None = None  # ms since the epoch of the next retry

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionStatus:
        return cls(
            type=data.get("type", "idle"),
            attempt=data.get("attempt"),
            message=data.get("message"),
            next=data.get("next"),
        )


@dataclass(frozen=True)
class Permission:
    """A tool call waiting for the human: `permission` (e.g. bash), `patterns`, the command."""

    id: str
    session_id: str
    permission: str
    patterns: tuple[str, ...] = ()
    always: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None

    @property
    def command(self) -> str | None:
        command = self.metadata.get("command")
        return command if isinstance(command, str) else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Permission:
        return cls(
            id=data["id"],
            session_id=data.get("sessionID", ""),
            permission=data.get("permission", ""),
            patterns=tuple(data.get("patterns") or ()),
            always=tuple(data.get("always") or ()),
            metadata=dict(data.get("metadata") or {}),
            call_id=(data.get("tool") or {}).get("callID"),
        )


@dataclass(frozen=True)
class QuestionOption:
    label: str
    description: str = ""


@dataclass(frozen=True)
class QuestionItem:
    question: str
    header: str = ""
    options: tuple[QuestionOption, ...] = ()
    multiple: bool = False


@dataclass(frozen=True)
class Question:
    """The model asks the human: one or more questions, each with labelled options."""

    id: str
    session_id: str
    questions: tuple[QuestionItem, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Question:
        items = tuple(
            QuestionItem(
                question=q.get("question", ""),
                header=q.get("header", ""),
                options=tuple(
                    QuestionOption(o.get("label", ""), o.get("description", ""))
                    for o in q.get("options") or ()
                ),
                multiple=bool(q.get("multiple")),
            )
            for q in data.get("questions") or ()
        )
        return cls(id=data["id"], session_id=data.get("sessionID", ""), questions=items)


@dataclass(frozen=True)
class Event:
    """One server event: `type` and `properties` as the server sent them."""

    type: str
    properties: dict[str, Any]
    id: str | None = None
    directory: str | None = None

    @property
    def session_id(self) -> str | None:
        props = self.properties
        sid = props.get("sessionID")
        if sid is None:
            part = props.get("part") or props.get("info")
            if isinstance(part, dict):
                sid = part.get("sessionID")
        return sid

    @classmethod
    def from_payload(cls, payload: dict[str, Any], directory: str | None = None) -> Event:
        return cls(
            type=payload.get("type", ""),
            properties=payload.get("properties") or {},
            id=payload.get("id"),
            directory=directory,
        )


@dataclass(frozen=True)
class Resync:
    """What is true right after a (re)connect: busy/retrying sessions, pending requests.

    Sessions absent from `statuses` are idle. Events missed while disconnected are not
    replayed by the server, so a consumer reconciles its state from this snapshot.
    """

    statuses: dict[str, SessionStatus]
    permissions: tuple[Permission, ...] = ()
    questions: tuple[Question, ...] = ()
    directory: str | None = None
    reconnect: bool = False  # False on the first connect

    type: str = "foreman.resync"

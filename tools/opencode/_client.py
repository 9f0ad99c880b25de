from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import httpx

from tools.opencode._errors import (
    BadRequest,
    NotFound,
    OpenCodeError,
    ServerUnavailable,
    Unauthorized,
)
from tools.opencode._events import EventStream
from tools.opencode._models import Event, Permission, Question, Resync, Session, SessionStatus

PermissionReply = Literal["once", "always", "reject"]


class OpenCodeClient:
    """An async client for one `opencode serve`; use it as `async with OpenCodeClient(url) as c`.

    Session-scoped calls are sent with the session's directory (learnt from any call that
    returned the session), because the server runs each directory as its own instance.
    """

    def __init__(
        self,
        base_url: str,
        password: str | None = None,
        username: str = "opencode",
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(username, password) if password else None
        self._http = httpx.AsyncClient(
            base_url=self.base_url, auth=self._auth, timeout=timeout, transport=transport
        )
        self._directories: dict[str, str] = {}

    def __repr__(self) -> str:
        # never the password
        return f"OpenCodeClient({self.base_url!r}, auth={'yes' if self._auth else 'no'})"

    @classmethod
    def from_env(cls) -> OpenCodeClient | None:
        """From FOREMAN_OPENCODE_URL (+ _PASSWORD, _USERNAME); None when no URL is set."""
        url = os.environ.get("FOREMAN_OPENCODE_URL")
        if not url:
            return None
        return cls(
            url,
            password=os.environ.get("FOREMAN_OPENCODE_PASSWORD") or None,
            username=os.environ.get("FOREMAN_OPENCODE_USERNAME") or "opencode",
        )

    async def __aenter__(self) -> OpenCodeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    def _params(self, directory: str | None, object_id: str | None = None) -> dict[str, str]:
        directory = directory or (self._directories.get(object_id) if object_id else None)
        return {"directory": directory} if directory else {}

    async def _request(
        self,
        method: str,
        path: str,
        *,
        directory: str | None = None,
        session_id: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        query = {**self._params(directory, session_id), **(params or {})}
        try:
            response = await self._http.request(method, path, params=query, json=json)
        except httpx.TransportError as exc:
            raise ServerUnavailable(f"OpenCode at {self.base_url} unreachable: {exc!r}") from exc
        if response.status_code >= 400:
            raise _error_from(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def _remember(self, session: Session) -> Session:
        if session.directory:
            self._directories[session.id] = session.directory
        return session

    def remember_directory(self, object_id: str, directory: str | None) -> None:
        """Note where a session, permission or question lives (the server scopes them by
        directory, so a reply must be sent to the same one)."""
        if object_id and directory:
            self._directories[object_id] = directory

    def _requests_in(self, items: list[Any], directory: str | None) -> list[Any]:
        for item in items:
            where = directory or self._directories.get(item.session_id)
            self.remember_directory(item.id, where)
            self.remember_directory(item.session_id, where)
        return items

    # -- server -----------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """`{"healthy": true, "version": ...}`."""
        return await self._request("GET", "/global/health")

    # -- sessions ---------------------------------------------------------------------------

    async def create_session(
        self,
        directory: str,
        title: str | None = None,
        permission: Sequence[dict[str, str]] | None = None,
        parent_id: str | None = None,
    ) -> Session:
        body: dict[str, Any] = {}
        if title is not None:
            body["title"] = title
        if permission is not None:
            body["permission"] = list(permission)
        if parent_id is not None:
            body["parentID"] = parent_id
        data = await self._request("POST", "/session", directory=directory, json=body)
        return self._remember(Session.from_json(data))

    async def get_session(self, session_id: str, directory: str | None = None) -> Session:
        """One session; NotFound when the server has no such session (any more)."""
        data = await self._request(
            "GET", f"/session/{session_id}", directory=directory, session_id=session_id
        )
        return self._remember(Session.from_json(data))

    async def list_sessions(self, directory: str | None = None) -> list[Session]:
        """Sessions, newest first; with `directory`, only that directory's."""
        data = await self._request("GET", "/session", directory=directory)
        sessions = [self._remember(Session.from_json(s)) for s in data or ()]
        if directory is not None:
            # the server scopes by project, not by exact directory: filter to be sure
            sessions = [s for s in sessions if s.directory == directory]
        return sorted(sessions, key=lambda s: s.updated or s.created, reverse=True)

    async def session_status(self, directory: str | None = None) -> dict[str, SessionStatus]:
        """Busy and retrying sessions; a session absent from the answer is idle."""
        data = await self._request("GET", "/session/status", directory=directory)
        return {sid: SessionStatus.from_json(s) for sid, s in (data or {}).items()}

    async def abort(self, session_id: str, directory: str | None = None) -> bool:
        data = await self._request(
            "POST", f"/session/{session_id}/abort", directory=directory, session_id=session_id
        )
        return bool(data)

    async def prompt_async(
        self,
        session_id: str,
        text: str,
        no_reply: bool = False,
        *,
        agent: str | None = None,
        model: tuple[str, str] | None = None,
        system: str | None = None,
        directory: str | None = None,
        files: Sequence[FilePart] = (),
    ) -> None:
        """Queue a user message; the answer arrives as events. `no_reply` stores it as context."""
        body = prompt_body(
            text, no_reply=no_reply, agent=agent, model=model, system=system, files=files
        )
        await self._request(
            "POST",
            f"/session/{session_id}/prompt_async",
            directory=directory,
            session_id=session_id,
            json=body,
        )

    async def fork(
        self, session_id: str, message_id: str | None = None, directory: str | None = None
    ) -> Session:
        body = {"messageID": message_id} if message_id else {}
        data = await self._request(
            "POST",
            f"/session/{session_id}/fork",
            directory=directory,
            session_id=session_id,
            json=body,
        )
        return self._remember(Session.from_json(data))

    async def summarize(
        self, session_id: str, provider_id: str, model_id: str, directory: str | None = None
    ) -> bool:
        data = await self._request(
            "POST",
            f"/session/{session_id}/summarize",
            directory=directory,
            session_id=session_id,
            json={"providerID": provider_id, "modelID": model_id},
        )
        return bool(data)

    async def messages(
        self, session_id: str, limit: int | None = None, directory: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest `limit` messages as the server sends them: `{"info": …, "parts": […]}`."""
        params = {"limit": limit} if limit is not None else None
        data = await self._request(
            "GET",
            f"/session/{session_id}/message",
            directory=directory,
            session_id=session_id,
            params=params,
        )
        return list(data or ())

    async def todos(self, session_id: str, directory: str | None = None) -> list[dict[str, Any]]:
        data = await self._request(
            "GET", f"/session/{session_id}/todo", directory=directory, session_id=session_id
        )
        return list(data or ())

    # -- permissions and questions ----------------------------------------------------------

    async def permissions(self, directory: str | None = None) -> list[Permission]:
        data = await self._request("GET", "/permission", directory=directory)
        return self._requests_in([Permission.from_json(p) for p in data or ()], directory)

    async def reply_permission(
        self,
        permission_id: str,
        reply: PermissionReply,
        message: str | None = None,
        directory: str | None = None,
    ) -> None:
        """`once`, `always` or `reject`; a reject with a message lets the model go on with it."""
        body: dict[str, Any] = {"reply": reply}
        if message:
            body["message"] = message
        await self._request(
            "POST",
            f"/permission/{permission_id}/reply",
            directory=directory,
            session_id=permission_id,
            json=body,
        )

    async def questions(self, directory: str | None = None) -> list[Question]:
        data = await self._request("GET", "/question", directory=directory)
        return self._requests_in([Question.from_json(q) for q in data or ()], directory)

    async def reply_question(
        self, question_id: str, answers: Sequence[Sequence[str]], directory: str | None = None
    ) -> None:
        """One list of chosen labels per question, in order."""
        await self._request(
            "POST",
            f"/question/{question_id}/reply",
            directory=directory,
            session_id=question_id,
            json={"answers": [list(a) for a in answers]},
        )

    # -- events -----------------------------------------------------------------------------

    async def snapshot(
        self, directories: Iterable[str | None] = (None,), reconnect: bool = False
    ) -> Resync:
        """Busy sessions and pending permissions and questions, read now (one or more dirs)."""
        statuses: dict[str, SessionStatus] = {}
        permissions: dict[str, Permission] = {}
        questions: dict[str, Question] = {}
        dirs = list(directories) or [None]
        for directory in dirs:
            statuses.update(await self.session_status(directory))
            permissions.update((p.id, p) for p in await self.permissions(directory))
            questions.update((q.id, q) for q in await self.questions(directory))
        return Resync(
            statuses=statuses,
            permissions=tuple(permissions.values()),
            questions=tuple(questions.values()),
            directory=dirs[0] if len(dirs) == 1 else None,
            reconnect=reconnect,
        )

    def events(
        self,
        directory: str | None = None,
        *,
        resync_directories: Iterable[str] | None = None,
        max_backoff: float = 10.0,
        on_malformed: Callable[[str], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> AsyncIterator[Event | Resync]:
        """Server events, forever: `/event?directory=` for one directory, else `/global/event`.

        Drops `sync` duplicates and heartbeats; reconnects with exponential backoff and jitter;
        after every (re)connect yields a `Resync` snapshot first. In global mode the snapshot
        covers `resync_directories` (re-read on each reconnect, so it may be a live set).
        A malformed event is skipped and handed (its reason) to `on_malformed`; `on_lost` is
        called whenever the stream is down (until the next `Resync`, events are missed).
        """
        return EventStream(
            self,
            self._http,
            directory,
            resync_directories,
            max_backoff=max_backoff,
            on_malformed=on_malformed,
            on_lost=on_lost,
        ).iterate()


@dataclass(frozen=True)
class FilePart:
    """A file sent with a prompt (OpenCode's `FilePartInput`), carried inline as a data URL."""

    mime: str
    filename: str
    data: bytes = field(repr=False)

    def as_input(self) -> dict[str, str]:
        encoded = base64.b64encode(self.data).decode("ascii")
        return {
            "type": "file",
            "mime": self.mime,
            "filename": self.filename,
            "url": f"data:{self.mime};base64,{encoded}",
        }


def prompt_body(
    text: str,
    *,
    no_reply: bool = False,
    agent: str | None = None,
    model: tuple[str, str] | None = None,
    system: str | None = None,
    files: Sequence[FilePart] = (),
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [file.as_input() for file in files]
    body: dict[str, Any] = {"parts": parts}
    if no_reply:
        body["noReply"] = True
    if agent:
        body["agent"] = agent
    if model:
        body["model"] = {"providerID": model[0], "modelID": model[1]}
    if system:
        body["system"] = system
    return body


def _error_from(response: httpx.Response) -> OpenCodeError:
    name: str | None = None
    message = response.text.strip() or response.reason_phrase
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if isinstance(body, dict):
        name = body.get("name") or None
        data = body.get("data")
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            message = data["message"]
        elif isinstance(body.get("message"), str):
            message = body["message"]
        elif isinstance(body.get("error"), str):
            message = body["error"]
        elif isinstance(body.get("error"), list | dict):
            message = str(body["error"])
    where = f"{response.request.method} {response.request.url.path}"
    text = f"{where}: {response.status_code} {name + ': ' if name else ''}{message}"
    cls = {404: NotFound, 400: BadRequest, 401: Unauthorized}.get(
        response.status_code, OpenCodeError
    )
    return cls(text, status=response.status_code, name=name, body=body)

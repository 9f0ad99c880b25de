"""Foreman as an A2A agent (fasta2a): each message is one assistant turn in the caller's chat.

A change the turn proposes waits for the human exactly as in a DM: the card is filed for the
human and the reply carries its approval id; nothing an A2A caller sends can approve it. A turn
the model could not take (a provider failure, no key) is a `failed` task whose status message
says why.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fasta2a import FastA2A, Skill, Worker
from fasta2a.broker import InMemoryBroker
from fasta2a.schema import (
    Artifact,
    Message,
    Part,
    Task,
    TaskIdParams,
    TaskSendParams,
    TaskState,
)
from fasta2a.storage import InMemoryStorage
from pydantic import ValidationError
from starlette.middleware import Middleware

from assistant import __version__
from assistant.interop._auth import BearerAuth
from assistant.interop._bridge import Bridge
from assistant.messages import Principal

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send
    from starlette.types import Message as AsgiMessage

log = logging.getLogger(__name__)

AGENT_CARD_PATH = "/.well-known/agent-card.json"
SKILLS = [
    Skill(
        id="projects",
        name="Projects and builders",
        description="List projects and builders, show a project, propose a status change, a "
        "builder create/terminate or a message to a builder (a human approves every change).",
        tags=["projects", "builders"],
        examples=["show me all projects", "start working on 0015"],
        input_modes=["text/plain"],
        output_modes=["text/plain", "application/json"],
    )
]
# JSON-RPC 2.0's codes for a request that cannot be read, is not one, or names no method
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601


class TimedStorage(InMemoryStorage[list[Message]]):
    """fasta2a's in-memory tasks, with timestamps that say their time zone (UTC).

    A2A's timestamps are RFC 3339; without an offset the official a2a-sdk cannot parse a task.
    """

    async def submit_task(self, context_id: str, message: Message) -> Task:
        return _stamped(await super().submit_task(context_id, message))

    async def update_task(
        self,
        task_id: str,
        state: TaskState,
        new_artifacts: list[Artifact] | None = None,
        new_messages: list[Message] | None = None,
        status_message: Message | None = None,
    ) -> Task:
        task = _stamped(await super().update_task(task_id, state, new_artifacts, new_messages))
        if status_message is not None:
            task["status"]["message"] = status_message
        return task


def _stamped(task: Task) -> Task:
    task["status"]["timestamp"] = datetime.now(UTC).isoformat()
    return task


@dataclass
class AssistantWorker(Worker[list[Message]]):
    """Runs each task as one assistant turn; the A2A context is the chat thread."""

    bridge: Bridge
    caller: Principal
    storage: TimedStorage

    async def run_task(self, params: TaskSendParams) -> None:
        task_id, context_id = params["id"], params["context_id"]
        await self.storage.update_task(task_id, state="working")
        await self.publish_status(task_id, context_id, "working")
        text = "\n".join(p["text"] for p in params["message"]["parts"] if "text" in p)
        try:
            result = await self.bridge.ask(self.caller, text, thread=context_id)
        except Exception as exc:  # the task must end with a reason, not hang in `working`
            log.warning("A2A turn failed", exc_info=True)
            result = {"failed": f"Foreman could not take this turn ({type(exc).__name__})."}
        if result.get("failed"):
            await self._fail(task_id, context_id, result["failed"])
            return
        reply = "\n\n".join(result["replies"])
        parts = [Part(text=reply)]
        if result["approvals"]:
            parts.append(Part(data={"approvals": result["approvals"]}))
        artifact = Artifact(artifact_id=str(uuid.uuid4()), name="reply", parts=parts)
        await self.storage.update_task(
            task_id, state="completed", new_artifacts=[artifact], new_messages=[_said(reply)]
        )
        await self.publish_artifact(task_id, context_id, artifact)

    async def _fail(self, task_id: str, context_id: str, reason: str) -> None:
        message = _said(reason)
        await self.storage.update_task(
            task_id, state="failed", new_messages=[message], status_message=message
        )
        await self.publish_status(task_id, context_id, "failed", message)
        # the stream ends on this status, with its reason; fasta2a's own final one would repeat it
        await self.broker.event_bus.close(task_id)

    async def cancel_task(self, params: TaskIdParams) -> None:
        await self.storage.update_task(params["id"], state="canceled")

    def build_message_history(self, history: list[Message]) -> list[Message]:
        return history

    def build_artifacts(self, result: Any) -> list[Artifact]:
        return [Artifact(artifact_id=str(uuid.uuid4()), parts=[Part(text=str(result))])]


def _said(text: str) -> Message:
    return Message(role="agent", parts=[Part(text=text)], message_id=str(uuid.uuid4()))


class JsonRpcErrors:
    """ASGI middleware: a request fasta2a cannot read gets a JSON-RPC error, not an HTTP 500.

    fasta2a validates the body inside its endpoint and lets the error escape; here the body is
    kept as it is read, so the answer can carry the request's id when it has one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        started = False

        async def reading() -> AsgiMessage:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def sending(message: AsgiMessage) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, reading, sending)
        except (ValidationError, NotImplementedError) as exc:
            if started:
                raise
            await _json_rpc_error(send, bytes(body), exc)


async def _json_rpc_error(send: Send, body: bytes, exc: Exception) -> None:
    try:
        request = json.loads(body)
    except ValueError:
        request, code, message = None, PARSE_ERROR, "the request body is not JSON"
    else:
        if isinstance(exc, NotImplementedError):
            code, message = METHOD_NOT_FOUND, f"unknown method {request.get('method')!r}"
        else:
            code, message = INVALID_REQUEST, f"invalid request: {_first_problem(exc)}"
    request_id = request.get("id") if isinstance(request, dict) else None
    if not isinstance(request_id, str | int):
        request_id = None
    payload = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


def _first_problem(exc: Exception) -> str:
    if not isinstance(exc, ValidationError) or not exc.errors():
        return str(exc)
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
    return f"{where}: {error['msg']}" if where else error["msg"]


def build_a2a_app(
    bridge: Bridge, *, caller: Principal, url: str, token: str | None = None
) -> FastA2A:
    """The A2A application; with `token`, every call but the agent card needs it as a bearer."""
    storage = TimedStorage()
    broker = InMemoryBroker()
    worker = AssistantWorker(broker=broker, storage=storage, bridge=bridge, caller=caller)

    @asynccontextmanager
    async def lifespan(app: FastA2A) -> AsyncIterator[None]:
        async with app.task_manager, worker.run():
            yield

    middleware = []
    security: dict[str, Any] = {}
    if token is not None:
        middleware.append(
            Middleware(
                BearerAuth, token=token, public=(AGENT_CARD_PATH,), variable="FOREMAN_A2A_TOKEN"
            )
        )
        security = {
            "security_schemes": {"bearer": {"http_auth_security_scheme": {"scheme": "bearer"}}},
            "security_requirements": [{"schemes": {"bearer": []}}],
        }
    middleware.append(Middleware(JsonRpcErrors))
    return FastA2A(
        storage=storage,
        broker=broker,
        name="foreman",
        version=__version__,
        url=url,
        description="Foreman: a workspace's projects and coding builders; changes need a human.",
        skills=SKILLS,
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain", "application/json"],
        middleware=middleware,
        lifespan=lifespan,
        docs_url=None,
        **security,
    )

"""Foreman as an A2A agent (fasta2a): each message is one assistant turn in the caller's chat.

A change the turn proposes waits for the human exactly as in a DM: the card is filed for the
human and the reply carries its approval id; nothing an A2A caller sends can approve it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fasta2a import FastA2A, Skill, Worker
from fasta2a.broker import InMemoryBroker
from fasta2a.schema import Artifact, Message, Part, TaskIdParams, TaskSendParams
from fasta2a.storage import InMemoryStorage
from starlette.middleware import Middleware

from assistant.interop._auth import BearerAuth
from assistant.interop._bridge import Bridge
from assistant.messages import Principal

AGENT_CARD_PATH = "/.well-known/agent-card.json"
SKILLS = [
    Skill(
        id="projects",
        name="Projects and builders",
        description="List projects and builders, show a project, propose a status change or a "
        "builder create/terminate (a human approves every change).",
        tags=["projects", "builders"],
        examples=["show me all projects", "start working on 0015"],
        input_modes=["text/plain"],
        output_modes=["text/plain", "application/json"],
    )
]


@dataclass
class AssistantWorker(Worker[list[Message]]):
    """Runs each task as one assistant turn; the A2A context is the chat thread."""

    bridge: Bridge
    caller: Principal

    async def run_task(self, params: TaskSendParams) -> None:
        task_id, context_id = params["id"], params["context_id"]
        await self.storage.update_task(task_id, state="working")
        await self.publish_status(task_id, context_id, "working")
        text = "\n".join(p["text"] for p in params["message"]["parts"] if "text" in p)
        result = await self.bridge.ask(self.caller, text, thread=context_id)
        reply = "\n\n".join(result["replies"])
        parts = [Part(text=reply)]
        if result["approvals"]:
            parts.append(Part(data={"approvals": result["approvals"]}))
        artifact = Artifact(artifact_id=str(uuid.uuid4()), name="reply", parts=parts)
        message = Message(role="agent", parts=[Part(text=reply)], message_id=str(uuid.uuid4()))
        await self.storage.update_task(
            task_id, state="completed", new_artifacts=[artifact], new_messages=[message]
        )
        await self.publish_artifact(task_id, context_id, artifact)

    async def cancel_task(self, params: TaskIdParams) -> None:
        await self.storage.update_task(params["id"], state="canceled")

    def build_message_history(self, history: list[Message]) -> list[Message]:
        return history

    def build_artifacts(self, result: Any) -> list[Artifact]:
        return [Artifact(artifact_id=str(uuid.uuid4()), parts=[Part(text=str(result))])]


def build_a2a_app(
    bridge: Bridge, *, caller: Principal, url: str, token: str | None = None
) -> FastA2A:
    """The A2A application; with `token`, every call but the agent card needs it as a bearer."""
    storage: InMemoryStorage[list[Message]] = InMemoryStorage()
    broker = InMemoryBroker()
    worker = AssistantWorker(broker=broker, storage=storage, bridge=bridge, caller=caller)

    @asynccontextmanager
    async def lifespan(app: FastA2A) -> AsyncIterator[None]:
        async with app.task_manager, worker.run():
            yield

    middleware = []
    security: dict[str, Any] = {}
    if token is not None:
        middleware.append(Middleware(BearerAuth, token=token, public=(AGENT_CARD_PATH,)))
        security = {
            "security_schemes": {"bearer": {"http_auth_security_scheme": {"scheme": "bearer"}}},
            "security_requirements": [{"schemes": {"bearer": []}}],
        }
    return FastA2A(
        storage=storage,
        broker=broker,
        name="foreman",
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

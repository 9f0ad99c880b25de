"""Foreman as an A2A agent on loopback: a real HTTP round trip with fasta2a's client."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fasta2a.client import A2AClient
from fasta2a.schema import Message, Part
from pydantic_ai.messages import ModelRequest, ToolReturnPart

from assistant.dm import DirectMessages
from assistant.interop import Bridge
from assistant.interop.a2a import build_a2a_app
from assistant.messages import Principal
from tests.interop.conftest import HUMAN
from tests.opencode_server import free_port

REPO = Path(__file__).resolve().parents[2]
CALLER = Principal("a2a", "client")
TOKEN = "a2a-test-token"


@pytest.fixture
async def base_url(service: DirectMessages, workspace: Any) -> AsyncIterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    bridge = Bridge(service=service, workspace=workspace, approver=HUMAN)
    app = build_a2a_app(bridge, caller=CALLER, url=url, token=TOKEN)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the A2A server did not start"
        await asyncio.sleep(0.05)
    yield url
    server.should_exit = True
    await serving


async def _turn(client: A2AClient, text: str, context_id: str) -> dict[str, Any]:
    message = Message(
        role="user", parts=[Part(text=text)], message_id=str(uuid.uuid4()), context_id=context_id
    )
    sent = await client.send_message(message)
    task_id = sent["result"]["task"]["id"]
    for _ in range(200):
        task = (await client.get_task(task_id))["result"]
        if task["status"]["state"] in ("completed", "failed", "canceled"):
            return task
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never finished")


def _reply(task: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    [artifact] = task["artifacts"]
    text = next(p["text"] for p in artifact["parts"] if "text" in p)
    data = [p["data"] for p in artifact["parts"] if "data" in p]
    return text, (data[0]["approvals"] if data else [])


async def test_round_trip_and_mutations_wait_for_the_human(
    base_url: str, service: DirectMessages, workspace: Any
) -> None:
    before = workspace.projectlist_path.read_bytes()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=headers) as http:
        client = A2AClient(base_url, http_client=http)
        context = str(uuid.uuid4())

        listed = await _turn(client, "show me all projects", context)
        assert listed["status"]["state"] == "completed"
        text, approvals = _reply(listed)
        assert "Ironman Training" in text and "New Feature" in text
        assert approvals == []

        asked = await _turn(client, "mark 0015 as implementing", context)
        text, [card] = _reply(asked)
        assert (card["state"], card["approver"], card["tool"]) == (
            "pending",
            HUMAN.key,
            "set_project_status",
        )
        assert text.endswith(
            f"Waiting for {HUMAN.key} to approve {card['approval_id']}: {card['card']}"
        )

        # the calling agent cannot approve, however it phrases it
        for attempt in ("yes", f"/approve {card['approval_id']}"):
            refused, _ = _reply(await _turn(client, attempt, context))
            assert "can" in refused and card["approval_id"] in refused
        assert service.approval(card["approval_id"]).state == "pending"
        assert workspace.projectlist_path.read_bytes() == before

        # the human approves from their shell
        approved = subprocess.run(
            [sys.executable, "-m", "assistant", "approvals", "approve", card["approval_id"]],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert "✓ 0015: planned → implementing" in approved.stdout
        assert b"status: implementing" in workspace.projectlist_path.read_bytes()

        # the caller's chat records the real outcome, and no rejection by anyone
        after = await _turn(client, "how is 0015 now?", context)
        assert after["status"]["state"] == "completed"
    chat_key = f"a2a:client#{context}"
    history = "\n".join(
        str(part.content)
        for message in service.conversations.load(chat_key)
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    )
    assert '"status":"done"' in history.replace(" ", "")
    assert "rejected" not in history
    log = service.approvals.audit_log(approval_id=card["approval_id"])
    assert [(e.actor, e.action) for e in log] == [
        ("assistant", "approval.requested"),
        (CALLER.key, "approval.refused"),
        (CALLER.key, "approval.refused"),
        (HUMAN.key, "approval.approved.done"),
    ]


async def test_token_required_but_agent_card_public(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        card = (await http.get(".well-known/agent-card.json")).json()
        assert card["name"] == "foreman"
        assert card["securitySchemes"] == {
            "bearer": {"httpAuthSecurityScheme": {"scheme": "bearer"}}
        }
        assert [s["id"] for s in card["skills"]] == ["projects"]
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await http.post("", json={"jsonrpc": "2.0", "id": 1}, headers=headers)
            assert response.status_code == 401


async def test_streamed_turn_ends_with_the_pending_card(
    base_url: str, service: DirectMessages
) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        client = A2AClient(base_url, http_client=http)
        message = Message(
            role="user", parts=[Part(text="put 0014 on hold")], message_id=str(uuid.uuid4())
        )
        events = [event["result"] async for event in client.stream_message(message)]
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["task", "status_update", "artifact_update", "status_update"]
    assert [e["status_update"]["status"]["state"] for e in events if "status_update" in e] == [
        "working",
        "completed",
    ]
    parts = events[2]["artifact_update"]["artifact"]["parts"]
    [card] = next(p["data"]["approvals"] for p in parts if "data" in p)
    assert (card["tool"], card["args"]["status"], card["state"]) == (
        "set_project_status",
        "on-hold",
        "pending",
    )
    assert service.approval(card["approval_id"]).principal == HUMAN.key

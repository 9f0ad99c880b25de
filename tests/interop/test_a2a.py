"""Foreman as an A2A agent on loopback, driven by the official client (a2a-sdk)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from a2a.client import ClientConfig, create_client
from a2a.client.client import Client
from a2a.helpers import new_text_message
from a2a.types.a2a_pb2 import GetTaskRequest, Role, SendMessageRequest
from google.protobuf.json_format import MessageToDict
from inline_snapshot import snapshot
from pydantic_ai.messages import ModelRequest, ToolReturnPart

from assistant import __version__
from assistant.dm import DirectMessages
from assistant.interop import Bridge
from assistant.interop.a2a import build_a2a_app
from assistant.messages import Principal
from assistant.store import open_store
from tests.fake_provider import Fail, FakeAnthropic
from tests.interop.conftest import HUMAN
from tests.opencode_server import free_port

REPO = Path(__file__).resolve().parents[2]
CALLER = Principal("a2a", "client")
TOKEN = "a2a-test-token"
DONE = ("TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED")


async def _serve(service: DirectMessages, workspace: Any) -> AsyncIterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    bridge = Bridge(service=service, workspace=workspace, approver=HUMAN)
    app = build_a2a_app(bridge, caller=CALLER, url=url, token=TOKEN)
    # the client shares this event loop: a turn that holds the loop for seconds under load
    # must not let uvicorn's 5 s keep-alive close the client's pooled connection mid-test
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=120
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the A2A server did not start"
        await asyncio.sleep(0.05)
    yield url
    server.should_exit = True
    await serving


@pytest.fixture
async def base_url(service: DirectMessages, workspace: Any) -> AsyncIterator[str]:
    async for url in _serve(service, workspace):
        yield url


async def _client(url: str, *, streaming: bool = False) -> Client:
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
    return await create_client(url, ClientConfig(httpx_client=http, streaming=streaming))


async def _turn(client: Client, text: str, context_id: str) -> dict[str, Any]:
    message = new_text_message(text, context_id=context_id, role=Role.ROLE_USER)
    [sent] = [event async for event in client.send_message(SendMessageRequest(message=message))]
    task_id = sent.task.id
    for _ in range(400):
        task = MessageToDict(await client.get_task(GetTaskRequest(id=task_id)))
        if task["status"]["state"] in DONE:
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
    async with await _client(base_url) as client:
        context = str(uuid.uuid4())

        listed = await _turn(client, "show me all projects", context)
        assert listed["status"]["state"] == "TASK_STATE_COMPLETED"
        # RFC 3339 with its offset: the SDK parsed it, and it is the time it says
        stamped = datetime.fromisoformat(listed["status"]["timestamp"].replace("Z", "+00:00"))
        assert abs((datetime.now(stamped.tzinfo) - stamped).total_seconds()) < 60
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
            [
                sys.executable,
                "-m",
                "assistant",
                "approvals",
                "approve",
                card["approval_id"],
                "--workspace",
                str(workspace.root),
            ],
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
        assert after["status"]["state"] == "TASK_STATE_COMPLETED"
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
        assert (card["name"], card["version"]) == ("foreman", __version__)
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
    async with await _client(base_url, streaming=True) as client:
        message = new_text_message("put 0014 on hold", role=Role.ROLE_USER)
        request = SendMessageRequest(message=message)
        events = [MessageToDict(e) async for e in client.send_message(request)]
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["task", "statusUpdate", "artifactUpdate", "statusUpdate"]
    assert [e["statusUpdate"]["status"]["state"] for e in events if "statusUpdate" in e] == [
        "TASK_STATE_WORKING",
        "TASK_STATE_COMPLETED",
    ]
    parts = events[2]["artifactUpdate"]["artifact"]["parts"]
    [card] = next(p["data"]["approvals"] for p in parts if "data" in p)
    assert (card["tool"], card["args"]["status"], card["state"]) == (
        "set_project_status",
        "on-hold",
        "pending",
    )
    assert service.approval(card["approval_id"]).principal == HUMAN.key


async def test_a_turn_the_model_cannot_take_is_a_failed_task_saying_why(
    fake_anthropic: FakeAnthropic, workspace: Any
) -> None:
    fake_anthropic.script(Fail(401, "authentication_error", "invalid x-api-key"))
    service = DirectMessages(open_store(), workspace, None, principals={HUMAN.key})
    async for url in _serve(service, workspace):
        async with await _client(url) as client:
            task = await _turn(client, "show me all projects", str(uuid.uuid4()))
    assert task["status"]["state"] == "TASK_STATE_FAILED"
    [said] = task["status"]["message"]["parts"]
    assert said["text"] == snapshot(
        "The model provider refused the key in ANTHROPIC_API_KEY (401). Check or replace it, then try again."
    )
    assert "artifacts" not in task


async def test_a_streamed_turn_that_fails_ends_on_one_failed_status_saying_why(
    fake_anthropic: FakeAnthropic, workspace: Any
) -> None:
    fake_anthropic.script(Fail(529, "overloaded_error", "Overloaded"))
    service = DirectMessages(open_store(), workspace, None, principals={HUMAN.key})
    async for url in _serve(service, workspace):
        async with await _client(url, streaming=True) as client:
            message = new_text_message("show me all projects", role=Role.ROLE_USER)
            request = SendMessageRequest(message=message)
            events = [MessageToDict(e) async for e in client.send_message(request)]
    statuses = [e["statusUpdate"]["status"] for e in events if "statusUpdate" in e]
    assert [s["state"] for s in statuses] == ["TASK_STATE_WORKING", "TASK_STATE_FAILED"]
    assert statuses[-1]["message"]["parts"] == [
        {"text": "The model provider is overloaded right now (529). Try again in a minute."}
    ]


async def test_an_authenticated_malformed_request_gets_a_json_rpc_error(base_url: str) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        bad_field = await http.post(
            base_url,
            json={
                "jsonrpc": "2.0",
                "id": 7,
                "method": "message/send",
                "params": {"message": {"role": "robot", "parts": [], "messageId": "m"}},
            },
        )
        not_json = await http.post(base_url, content=b"{not json")
    assert bad_field.status_code == 200
    assert bad_field.json()["id"] == 7
    assert bad_field.json()["error"]["code"] == -32600
    assert "role" in bad_field.json()["error"]["message"]
    assert not_json.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "the request body is not JSON"},
    }

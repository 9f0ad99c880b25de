"""Foreman as an MCP server: another agent reads, requests, and waits for the human."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from fastmcp.exceptions import ToolError
from inline_snapshot import snapshot
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assistant.dm import DirectMessages
from assistant.interop import Bridge
from assistant.interop.mcp import build_mcp_server
from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.store import open_store
from tests.interop.conftest import HUMAN
from tests.opencode_server import free_port

REPO = Path(__file__).resolve().parents[2]
CALLER = Principal("mcp", "client")


@pytest.fixture
def server(service: DirectMessages, workspace: Any) -> Any:
    bridge = Bridge(service=service, workspace=workspace, approver=HUMAN)
    return build_mcp_server(bridge, caller=CALLER)


def _status(workspace: Any, project_id: str) -> str:
    from tools.projectlist import load

    return load(workspace.projectlist_path).get(project_id).status


async def test_tools_offered_and_none_approves(server: Any) -> None:
    async with Client(server) as client:
        tools = await client.list_tools()
    listed = {t.name: (t.description, sorted(t.input_schema.get("properties", {}))) for t in tools}
    assert listed == snapshot(
        {
            "list_projects": (
                """\
List projects (id, title, status, repos, builders): filter by status and/or a text
in id or title; at most `limit` (max 500), then how many more.\
""",
                ["limit", "query", "status"],
            ),
            "get_project": (
                'Show one project by id (e.g. "0014"): all its fields and its builders.',
                ["id"],
            ),
            "list_builders": ("List builders on disk with their worktrees' state.", []),
            "builder_status": (
                "Show one builder: each worktree clean or dirty, ahead/behind, last commit.",
                ["name"],
            ),
            "reconcile": (
                "Compare builders on disk with git's worktrees and report what does not match.",
                [],
            ),
            "request_status_change": (
                "Ask the human to approve a project status change; returns the pending approval.",
                ["id", "reason", "status"],
            ),
            "request_builder_create": (
                "Ask the human to approve a new builder for a project; returns the approval.",
                ["extra_repos", "name", "project_id"],
            ),
            "request_builder_terminate": (
                "Ask the human to approve terminating a builder (force: discard its work).",
                ["force", "name"],
            ),
            "request_builder_message": (
                "Ask the human to approve sending text to a builder (name, or project id).",
                ["name", "text"],
            ),
            "approval_status": (
                "The state of an approval (pending, approved, rejected, ...) and its result.",
                ["id"],
            ),
            "ask": (
                "Talk to the assistant in your own chat; changes it proposes wait for the human.",
                ["message"],
            ),
        }
    )
    assert not [name for name in listed if name.startswith(("approve", "resolve", "set_"))]


async def test_a_long_project_list_comes_a_page_at_a_time(server: Any, workspace: Any) -> None:
    entries = "".join(
        f'  - id: "{n:04d}"\n    title: Service {n}\n    status: {"planned" if n % 2 else "conceived"}\n'
        for n in range(1, 1001)
    )
    workspace.projectlist_path.write_text(f"# Projects\n\n```yaml\nprojects:\n{entries}```\n")
    async with Client(server) as client:
        first = (await client.call_tool("list_projects", {})).data
        planned = (
            await client.call_tool("list_projects", {"status": "planned", "limit": 9999})
        ).data
        one = (await client.call_tool("list_projects", {"query": "service 777"})).data
    assert (len(first["projects"]), first["matched"]) == (50, 1000)
    assert first["more"] == snapshot(
        "950 more of 1000 not shown; narrow with status or query, or raise limit (at most 500)"
    )
    assert (len(planned["projects"]), planned["matched"]) == (500, 500)
    assert "more" not in planned
    assert one == {
        "projects": [{"id": "0777", "title": "Service 777", "status": "planned"}],
        "matched": 1,
    }


async def test_request_tools_refuse_bad_requests(server: Any, service: DirectMessages) -> None:
    async with Client(server) as client:
        with pytest.raises(ToolError, match="0099"):
            await client.call_tool("request_status_change", {"id": "0099", "status": "planned"})
        with pytest.raises(ToolError, match="finished"):
            await client.call_tool("request_status_change", {"id": "0015", "status": "finished"})
        with pytest.raises(ToolError, match="0013 is already integrated"):
            await client.call_tool("request_status_change", {"id": "13", "status": "integrated"})
        with pytest.raises(ToolError, match="no approval 'nope'"):
            await client.call_tool("approval_status", {"id": "nope"})
        with pytest.raises(ToolError, match="0099"):
            await client.call_tool("get_project", {"id": "0099"})
    assert service.approvals.pending() == []


async def test_builder_requests_wait_for_the_human(
    server: Any, service: DirectMessages, workspace: Any
) -> None:
    async with Client(server) as client:
        created = (await client.call_tool("request_builder_create", {"project_id": "0015"})).data
        assert (created["state"], created["tool"], created["approver"]) == (
            "pending",
            "create_builder",
            HUMAN.key,
        )
        assert not (workspace.root / ".builders").exists()
        await service.desk.decide(created["approval_id"], HUMAN, approve=True)
        status = (await client.call_tool("approval_status", {"id": created["approval_id"]})).data
        assert status["state"] == "done"
        builders = (await client.call_tool("list_builders", {})).data
        assert [b["name"] for b in builders] == ["0015-new-feature"]
        forced = (
            await client.call_tool(
                "request_builder_terminate", {"name": "0015-new-feature", "force": True}
            )
        ).data
        assert (forced["tool"], forced["state"]) == ("force_terminate_builder", "pending")
    assert (workspace.root / ".builders" / "0015-new-feature").is_dir()


async def test_a_message_to_a_builder_is_a_card_for_the_human(
    server: Any, service: DirectMessages
) -> None:
    async with Client(server) as client:
        asked = {"name": "15", "text": "Begin with the rate limiter."}
        with pytest.raises(ToolError, match="no builder named 15"):
            await client.call_tool("request_builder_message", asked)
        asked["name"] = "0015"
        filed = (await client.call_tool("request_builder_message", asked)).data
    assert (filed["tool"], filed["state"], filed["approver"]) == (
        "message_builder",
        "pending",
        HUMAN.key,
    )
    approval = service.approval(filed["approval_id"])
    assert approval.card.splitlines() == [
        "Message builder 0015-new-feature (once its create card is approved):",
        "│ Begin with the rate limiter.",
    ]
    assert approval.card_chat == ChatRef(HUMAN.platform, HUMAN.user_id)
    # the caller cannot decide it, whatever it says
    refused = await service.desk.decide(filed["approval_id"], CALLER, approve=True)
    assert not refused.ok
    assert service.approval(filed["approval_id"]).state == "pending"


def _history(service: DirectMessages, chat_key: str) -> str:
    return "\n".join(
        str(part.content)
        for message in service.conversations.load(chat_key)
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart | UserPromptPart)
    )


async def test_ask_files_cards_for_the_human(
    server: Any, service: DirectMessages, workspace: Any
) -> None:
    async with Client(server) as client:
        answer = (await client.call_tool("ask", {"message": "mark 0015 as implementing"})).data
        [card] = answer["approvals"]
        assert (card["state"], card["approver"]) == ("pending", HUMAN.key)
        assert answer["replies"][-1] == (
            f"Waiting for {HUMAN.key} to approve {card['approval_id']}: {card['card']}"
        )
        approval = service.approval(card["approval_id"])
        assert (approval.chat.key, approval.card_chat.key) == ("mcp:client", HUMAN.key)
        # the caller answering in its own chat decides nothing
        for attempt in ("yes", f"/approve {card['approval_id']}", f"/reject {card['approval_id']}"):
            refused = (await client.call_tool("ask", {"message": attempt})).data
            assert refused["approvals"] == []
            assert "can" in refused["replies"][0] and card["approval_id"] in refused["replies"][0]
        assert service.approval(card["approval_id"]).state == "pending"
        assert _status(workspace, "0015") == "planned"

        # the human approves in their own chat
        human_dm = ChatRef(HUMAN.platform, HUMAN.user_id)
        [done] = await service.handle(
            Inbound(chat=human_dm, sender=HUMAN, text=f"/approve {card['approval_id']}")
        )
        assert done.chat == human_dm and done.text.startswith("✓ 0015: planned → implementing")
        assert _status(workspace, "0015") == "implementing"
        status = (await client.call_tool("approval_status", {"id": card["approval_id"]})).data
        assert status["state"] == "done"

    log = service.approvals.audit_log(approval_id=card["approval_id"])
    assert [(e.actor, e.action) for e in log] == [
        ("assistant", "approval.requested"),
        (CALLER.key, "approval.refused"),
        (CALLER.key, "approval.refused"),
        (CALLER.key, "approval.refused"),
        (HUMAN.key, "approval.approved.done"),
    ]
    assert [a.principal for a in service.approvals.recent()] == [HUMAN.key]
    assert "rejected" not in _history(service, "mcp:client")
    assert "planned → implementing" in _history(service, "mcp:client")


class _Caller:
    """Foreman's model for the caller's chat: asks for a status change, then reports results."""

    def __init__(self) -> None:
        self.seen: list[list[ModelMessage]] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.seen.append(messages)
        if len(self.seen) == 1:
            args = {"id": "0015", "status": "implementing", "reason": "tests pass"}
            return ModelResponse(parts=[ToolCallPart("set_project_status", args)])
        return ModelResponse(parts=[TextPart("noted")])


async def test_the_callers_next_ask_knows_what_the_human_decided(workspace: Any) -> None:
    model = _Caller()
    service = DirectMessages(open_store(), workspace, FunctionModel(model), {HUMAN.key})
    delivered: list[Outbound] = []

    async def deliver(message: Outbound) -> None:
        delivered.append(message)

    bridge = Bridge(service=service, workspace=workspace, approver=HUMAN, deliver=deliver)
    server = build_mcp_server(bridge, caller=CALLER)
    async with Client(server) as client:
        asked = (await client.call_tool("ask", {"message": "start 0015"})).data
        requested = (await client.call_tool("request_builder_create", {"project_id": "0015"})).data
        # both cards were posted in the human's DM at once, with their buttons
        [asked_card] = asked["approvals"]
        assert [(m.chat.key, m.kind, m.extra["approval_id"]) for m in delivered] == [
            (HUMAN.key, "approval_card", asked_card["approval_id"]),
            (HUMAN.key, "approval_card", requested["approval_id"]),
        ]
        for approval_id in (asked_card["approval_id"], requested["approval_id"]):
            await service.desk.decide(approval_id, HUMAN, approve=True)
        await client.call_tool("ask", {"message": "what happened?"})

    results = {
        part.tool_name: part.model_response_str()
        for message in model.seen[-1]
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    }
    assert json.loads(results["set_project_status"]) == {
        "status": "done",
        "summary": "0015: planned → implementing",
    }
    assert json.loads(results["create_builder"])["status"] == "done"
    assert "rejected" not in json.dumps([str(m) for m in model.seen[-1]])
    assert _status(workspace, "0015") == "implementing"
    assert (workspace.root / ".builders" / "0015-new-feature").is_dir()
    assert len(model.seen) == 2  # approving needed no model call


def _scripted_caller(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The other agent: list projects, request 0015 -> implementing, then report the approval id."""
    returns = [
        p
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    if not returns:
        return ModelResponse(parts=[ToolCallPart("list_projects", {})])
    if len(returns) == 1:
        assert "0015" in returns[0].model_response_str()
        return ModelResponse(
            parts=[
                ToolCallPart(
                    "request_status_change",
                    {"id": "0015", "status": "implementing", "reason": "tests pass"},
                )
            ]
        )
    return ModelResponse(parts=[TextPart(returns[-1].model_response_str())])


def _foreman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


async def test_agent_over_stdio_requests_and_the_human_approves(workspace: Any) -> None:
    before = workspace.projectlist_path.read_bytes()
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "assistant", "mcp", "--workspace", str(workspace.root)],
        env=dict(os.environ),
        cwd=str(REPO),
    )
    agent = Agent(FunctionModel(_scripted_caller), toolsets=[MCPToolset(Client(transport))])
    result = await agent.run("Get 0015 going.")
    request = json.loads(result.output)
    assert (request["state"], request["tool"], request["approver"]) == (
        "pending",
        "set_project_status",
        HUMAN.key,
    )
    assert "planned" in request["card"] and "implementing" in request["card"]
    assert workspace.projectlist_path.read_bytes() == before

    approved = _foreman(
        "approvals", "approve", request["approval_id"], "--workspace", str(workspace.root)
    )
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert _status(workspace, "0015") == "implementing"
    changed = [
        (old, new)
        for old, new in zip(
            before.decode().splitlines(),
            workspace.projectlist_path.read_text().splitlines(),
            strict=True,
        )
        if old != new
    ]
    assert changed == [("    status: planned", "    status: implementing")]


@pytest.fixture
def http_server(workspace: Any) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, FOREMAN_MCP_TOKEN="test-token-123")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "assistant",
            "mcp",
            "--http",
            f"127.0.0.1:{port}",
            "--workspace",
            str(workspace.root),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_http_needs_the_bearer_token(http_server: str) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with httpx.AsyncClient() as client:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            response = await client.post(http_server, json=ping, headers=headers)
            assert response.status_code == 401
    right = Client(
        StreamableHttpTransport(http_server, headers={"Authorization": "Bearer test-token-123"})
    )
    async with right:
        listed = (await right.call_tool("list_projects", {"status": "planned"})).data
    assert listed["projects"] == [
        {
            "id": "0015",
            "title": "New Feature",
            "status": "planned",
            "repos": ["ai-dev", "domain-apis"],
        }
    ]


def test_http_refuses_to_start_without_a_token(workspace: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FOREMAN_MCP_TOKEN",)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "mcp",
            "--http",
            "127.0.0.1:1",
            "--workspace",
            str(workspace.root),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "serving over HTTP needs a bearer token: set FOREMAN_MCP_TOKEN" in result.stderr


async def test_ask_without_a_model_key_says_which_to_set(workspace: Any) -> None:
    service = DirectMessages(open_store(), workspace, None, principals={HUMAN.key})
    server = build_mcp_server(
        Bridge(service=service, workspace=workspace, approver=HUMAN), caller=CALLER
    )
    async with Client(server) as client:
        # a turn the model cannot take is an error result for the caller, naming what to set
        with pytest.raises(ToolError, match=r"No model key configured: set ANTHROPIC_API_KEY"):
            await client.call_tool("ask", {"message": "how is 0014 doing?"})
        listed = (await client.call_tool("list_projects", {"status": "implementing"})).data
    assert [p["id"] for p in listed["projects"]] == ["0014"]

"""What survives: history (bounded), usage, approvals across restarts, the audit log, git."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import timedelta

from inline_snapshot import snapshot
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolReturnPart

from assistant.agent import prompt_chars, prompt_parts
from assistant.conversations import bound_history
from assistant.dm import DirectMessages
from tests.assistant.scripted_chat import ADA, Scripted, call, dm


def _check_pairs(messages) -> None:
    calls = {c.tool_call_id for m in messages if isinstance(m, ModelResponse) for c in m.tool_calls}
    for m in messages:
        if isinstance(m, ModelRequest):
            for p in m.parts:
                if isinstance(p, ToolReturnPart):
                    assert p.tool_call_id in calls, f"result without its call: {p.tool_name}"


async def test_history_is_bounded_per_chat_and_never_cut_inside_a_tool_exchange(make_service):
    turns = 12
    steps = []
    for _ in range(turns):
        steps += [[call("list_projects"), call("list_builders")], [TextPart("here you go")]]
    svc = make_service(Scripted(*steps).model, max_history=10)
    for i in range(turns):
        await svc.handle(dm(f"status please #{i}"))
    history = svc.conversations.load(dm().chat.key)
    assert len(history) <= 10
    first = history[0]
    assert isinstance(first, ModelRequest) and first.parts[0].part_kind == "user-prompt"
    assert "#11" in str(history[-4].parts[0].content)
    _check_pairs(history)
    usage = svc.conversations.usage(dm().chat.key)
    assert usage.requests == 2 * turns
    assert usage.input_tokens > 0 and usage.output_tokens > 0


def test_bound_history_keeps_a_long_single_turn_whole():
    from pydantic_ai.messages import ToolCallPart, UserPromptPart

    long_turn = [ModelRequest(parts=[UserPromptPart("go")])]
    for i in range(8):
        long_turn += [
            ModelResponse(parts=[ToolCallPart("list_projects", {}, tool_call_id=f"c{i}")]),
            ModelRequest(parts=[ToolReturnPart("list_projects", "x", tool_call_id=f"c{i}")]),
        ]
    assert bound_history(long_turn, 4) == long_turn


async def test_an_approval_survives_a_restart(store, workspace, make_service):
    svc = make_service(
        Scripted([call("set_project_status", id="0015", status="implementing", reason="go")]).model
    )
    [card] = await svc.handle(dm("start 0015"))
    # A new process: a fresh service over the same state file resolves the card.
    restarted = DirectMessages(store, workspace, None, {ADA.key})
    [done] = await restarted.handle(dm("yes"))
    assert done.text.startswith("✓ 0015: planned → implementing")
    history = restarted.conversations.load(dm().chat.key)
    assert isinstance(history[-1], ModelRequest)
    assert (
        history[-1].parts[-1].tool_call_id == svc.approval(card.extra["approval_id"]).tool_call_id
    )


async def test_an_expired_approval_is_refused(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    svc = make_service(None, approval_ttl=timedelta(seconds=-1))
    [card] = await svc.handle(dm("/status 0015 implementing"))
    [reply] = await svc.handle(dm(f"/approve {card.extra['approval_id']}"))
    assert reply.text == f"Approval {card.extra['approval_id']} expired; ask again."
    assert workspace.projectlist_path.read_bytes() == before


async def test_an_expired_card_becomes_expired_and_says_so_when_pressed_or_answered(
    make_service, workspace
):
    before = workspace.projectlist_path.read_bytes()
    svc = make_service(None, approval_ttl=timedelta(seconds=-1))
    [card] = await svc.handle(dm("/status 0015 implementing"))
    approval_id = card.extra["approval_id"]
    [listing] = await svc.handle(dm("/approvals"))
    assert listing.text == "No approvals waiting."
    assert svc.approval(approval_id).state == "expired"
    [pressed] = await svc.handle(dm(callback=f"approve:{approval_id}"))
    assert pressed.text == f"Approval {approval_id} expired; ask again."
    [typed] = await svc.handle(dm(f"/reject {approval_id}"))
    assert typed.text == f"Approval {approval_id} expired; ask again."
    assert workspace.projectlist_path.read_bytes() == before
    actions = [e.action for e in svc.approvals.audit_log(approval_id=approval_id)]
    assert actions[:2] == ["approval.requested", "approval.expired"]


async def test_every_decision_is_in_the_audit_log(make_service):
    svc = make_service(None)
    [card] = await svc.handle(dm("/status 0015 implementing starting", message_id="41"))
    approval_id = card.extra["approval_id"]
    await svc.handle(dm(f"/approve {approval_id}", message_id="42"))
    requested, approved = svc.approvals.audit_log(approval_id=approval_id)
    assert (requested.actor, requested.message_id) == ("assistant", "41")
    assert (approved.actor, approved.message_id, approved.chat_key) == (
        ADA.key,
        "42",
        "telegram:111",
    )
    assert approved.details["tool"] == "set_project_status"
    assert approved.details["summary"] == "0015: planned → implementing"
    assert approved.details["details"]["diff"] == "0015: status planned → implementing (line 34)"


async def test_git_commit_names_the_approver(make_service, workspace, monkeypatch):
    monkeypatch.setenv("FOREMAN_GIT_COMMIT", "1")
    svc = make_service(None)
    [card] = await svc.handle(dm("/status 0015 implementing"))
    [done] = await svc.handle(dm(f"/approve {card.extra['approval_id']}"))
    assert "Committed" in done.text
    log = subprocess.run(
        ["git", "-C", str(workspace.root), "log", "-1", "--format=%B", "--name-only"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "0015: planned → implementing" in log
    assert "Approved-by: Ada" in log
    assert log.strip().endswith(".ai/projectlist.md")


def test_prompt_and_tool_schemas_stay_small():
    parts = prompt_parts()
    chars = prompt_chars()
    print(f"prompt_chars={chars}")
    assert chars <= 8000
    assert json.loads(json.dumps(parts["tools"])) == snapshot(
        [
            {
                "name": "list_projects",
                "description": """\
List projects (id, status, title, builders): filter by status and/or a text query
(matched in id and title); at most `limit` (max 100), then how many more.\
""",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "status": {
                            "anyOf": [{"type": "string"}, {"type": "null"}],
                            "default": None,
                        },
                        "query": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                        "limit": {"default": 30, "type": "integer"},
                    },
                    "type": "object",
                },
            },
            {
                "name": "get_project",
                "description": "One project's fields and its builders on disk (with OpenCode session status if known).",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {"id": {"type": "string"}},
                    "required": ["id"],
                    "type": "object",
                },
            },
            {
                "name": "list_builders",
                "description": """\
Builders on disk (name, project, clean or dirty, session), optionally those whose name or
project contains `query`; at most `limit` (max 100), then how many more.\
""",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "query": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                        "limit": {"default": 30, "type": "integer"},
                    },
                    "type": "object",
                },
            },
            {
                "name": "builder_status",
                "description": "One builder's worktrees (uncommitted or unpushed work) and session.",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                    "type": "object",
                },
            },
            {
                "name": "builder_diff",
                "description": "Files a builder changed, +/- lines: uncommitted and unpushed apart, per worktree.",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "repo": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                    },
                    "required": ["name"],
                    "type": "object",
                },
            },
            {
                "name": "reconcile",
                "description": "Compare builders on disk, git worktrees and sessions; report what does not match.",
                "parameters": {"additionalProperties": False, "properties": {}, "type": "object"},
            },
            {
                "name": "set_project_status",
                "description": "Change a project's status in the project list (the user approves first).",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                    "required": ["id", "status", "reason"],
                    "type": "object",
                },
            },
            {
                "name": "create_builder",
                "description": "Create a builder (worktrees + OpenCode session) for a project (the user approves first).",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "project_id": {"type": "string"},
                        "extra_repos": {
                            "anyOf": [
                                {"items": {"type": "string"}, "type": "array"},
                                {"type": "null"},
                            ],
                            "default": None,
                        },
                        "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                    },
                    "required": ["project_id"],
                    "type": "object",
                },
            },
            {
                "name": "terminate_builder",
                "description": "Remove a builder; refused if it holds uncommitted or unpushed work (user approves first).",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                    "type": "object",
                },
            },
            {
                "name": "force_terminate_builder",
                "description": "Remove a builder even with unsaved work, discarding it (the user approves first).",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                    "type": "object",
                },
            },
            {
                "name": "message_builder",
                "description": "Send text to a builder (name, or project id) as a prompt (the user approves first).",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}, "text": {"type": "string"}},
                    "required": ["name", "text"],
                    "type": "object",
                },
            },
            {
                "name": "set_builder_budget",
                "description": """\
Set what a builder may spend on its model, in US dollars; usd null lifts the limit
(the user approves first). A builder at its budget is stopped until it is raised.\
""",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "usd": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
                    },
                    "required": ["name"],
                    "type": "object",
                },
            },
        ]
    )


async def test_a_card_approved_after_more_talk_still_lands_in_the_history(make_service, workspace):
    script = Scripted(
        [call("set_project_status", id="0015", status="implementing", reason="go")],
        lambda messages: [TextPart("still waiting for you")],
        lambda messages: [TextPart("seen it")],
    )
    svc = make_service(script.model)
    [card] = await svc.handle(dm("start 0015"))
    await svc.handle(dm("what else is going on?"))
    # The model was told the call waits for the user, not that it happened.
    waiting = [
        p.model_response_str()
        for m in script.seen[1]
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    assert waiting == [
        f"Not run yet: waiting for the user's decision on approval {card.extra['approval_id']}."
    ]
    [done] = await svc.handle(dm("yes"))
    assert done.text.startswith("✓ 0015: planned → implementing")
    await svc.handle(dm("and now?"))
    results = [
        json.loads(p.model_response_str())
        for m in script.seen[2]
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart) and p.tool_call_id.startswith("approval-")
    ]
    assert results == [{"status": "done", "summary": "0015: planned → implementing"}]
    _check_pairs(script.seen[2])


async def test_two_processes_approving_at_once_apply_it_once(tmp_path, workspace):
    from assistant.store import open_store

    first = DirectMessages(open_store(tmp_path / "shared"), workspace, None, {ADA.key})
    second = DirectMessages(open_store(tmp_path / "shared"), workspace, None, {ADA.key})
    [card] = await first.handle(dm("/status 0015 implementing"))
    approval_id = card.extra["approval_id"]
    decisions = await asyncio.gather(
        first.desk.decide(approval_id, ADA, True), second.desk.decide(approval_id, ADA, True)
    )
    texts = sorted(d.replies[0].text for d in decisions)
    assert texts[1].startswith("✓ 0015: planned → implementing")
    assert "already" in texts[0]
    actions = [e.action for e in first.approvals.audit_log(approval_id=approval_id)]
    assert actions.count("approval.approved.done") == 1


async def test_turns_that_follow_approved_cards_are_kept_within_the_bound(make_service):
    # Each prompt after an approved card shares its request with the card's tool result; the
    # bound must still cut between turns, not wipe all but the latest one.
    cycles = 20
    statuses = ("implementing", "planned")
    steps = [
        [call("set_project_status", id="0015", status=status, reason=f"#{i}")]
        for i in range(cycles)
        for status in statuses
    ]
    svc = make_service(Scripted(*steps).model, history_tokens=None)  # the 40-message bound
    for i in range(cycles):
        for status in statuses:
            await svc.handle(dm(f"mark 15 {status} #{i}"))
            [approval] = svc.approvals.pending(chat_key=dm().chat.key)
            await svc.handle(dm(callback=f"approve:{approval.id}"))
    history = svc.conversations.load(dm().chat.key)
    assert len(history) > 30
    latest = [f"mark 15 implementing #{cycles - 1}", f"mark 15 planned #{cycles - 1}"]
    for kept in (history, bound_history(history, 40, 3000)):
        prompts = [
            p.content
            for m in kept
            if isinstance(m, ModelRequest)
            for p in m.parts
            if p.part_kind == "user-prompt"
        ]
        assert len(prompts) >= 3 and prompts[-2:] == latest
        assert kept[0].parts[0].part_kind == "user-prompt"
        _check_pairs(kept)


async def test_failed_turns_are_counted_in_usage(make_service):
    # A tool loop stopped at the request limit: every request the model answered is billed.
    loop = [[call("list_projects")] for _ in range(20)]
    svc = make_service(Scripted(*loop).model)
    [reply] = await svc.handle(dm("loop forever"))
    assert reply.kind == "error"
    assert svc.conversations.usage(dm().chat.key).requests == 12

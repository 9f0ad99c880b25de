"""Slash commands answer without any model or key; free text without a key says what to set."""

from __future__ import annotations

from inline_snapshot import snapshot

from tests.assistant.scripted_chat import ADA, dm


async def test_commands_work_with_no_model_key(make_service, workspace):
    svc = make_service(None)
    await svc.orchestrator.create_builder("0014")

    [projects] = await svc.handle(dm("/projects"))
    assert projects.text == snapshot("""\
0013 · integrated · Slack Gateway
0014 · implementing · Ironman Training · 🔨 0014-ironman-training
0015 · planned · New Feature
0016 · conceived · Voice Notes\
""")
    [implementing] = await svc.handle(dm("/projects implementing"))
    assert implementing.text == snapshot(
        "0014 · implementing · Ironman Training · 🔨 0014-ironman-training"
    )
    [project] = await svc.handle(dm("/project 0014"))
    assert project.text == snapshot("""\
0014 · Ironman Training
status: implementing
repos: ai-dev
tags: training, personal
chat: telegram Ironman Training builder
notes: Weekly plan generator for the race in June.
builder: 0014-ironman-training (clean)\
""")
    [builders] = await svc.handle(dm("/builders"))
    assert builders.text == snapshot("0014-ironman-training (clean)")
    [usage] = await svc.handle(dm("/usage"))
    assert usage.text == snapshot("This chat: 0 model requests, 0 input tokens, 0 output tokens.")
    [helptext] = await svc.handle(dm("/help"))
    assert helptext.text == snapshot("""\
/projects [STATUS] — list projects
/project ID — one project and its builders
/builders — builders on disk
/status ID STATUS — propose a status change (asks for approval)
/approvals — approvals waiting for you
/approve ID · /reject ID — resolve one
/usage — the assistant's own model requests and tokens in this chat
  (a builder's cost: /usage in its group)
/help — this list
Anything else goes to the assistant.\
""")


async def test_status_command_proposes_the_same_card(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    svc = make_service(None)
    [card] = await svc.handle(dm("/status 0013 committed oops, not yet integrated"))
    approval_id = card.extra["approval_id"]
    assert card.kind == "approval_card"
    assert card.text.replace(approval_id, "ID") == snapshot("""\
Approval ID needed:
Set 0013 Slack Gateway: integrated → committed
.ai/projectlist.md: 0013: status integrated → committed (line 9)
⚠ leaves terminal state integrated
⚠ moves backwards from integrated to committed
Reason: oops, not yet integrated
Reply yes or no, or /approve ID · /reject ID\
""")
    assert workspace.projectlist_path.read_bytes() == before

    [listed] = await svc.handle(dm("/approvals"))
    assert listed.extra["approval_id"] == approval_id
    [done] = await svc.handle(dm(f"/approve {approval_id}"))
    assert done.text == snapshot("""\
✓ 0013: integrated → committed
0013: status integrated → committed (line 9)\
""")
    [nothing] = await svc.handle(dm("/approvals"))
    assert nothing.text == "No approvals waiting."


async def test_bad_commands_get_clear_errors(make_service):
    svc = make_service(None)
    [unknown] = await svc.handle(dm("/frobnicate"))
    assert unknown.kind == "error" and unknown.text.startswith("Unknown command /frobnicate.")
    [no_project] = await svc.handle(dm("/project 0099"))
    assert no_project.text == "No project 0099."
    [bad_status] = await svc.handle(dm("/status 0015 finished"))
    assert bad_status.kind == "error"
    assert "finished" in bad_status.text
    [usage] = await svc.handle(dm("/status 0015"))
    assert usage.text == "Usage: /status ID STATUS [reason]"
    [missing] = await svc.handle(dm("/approve zzzzzz"))
    assert missing.text == "No approval zzzzzz."


async def test_free_text_without_a_key_names_the_variable(make_service, monkeypatch):
    svc = make_service(None)
    [reply] = await svc.handle(dm("show me all sessions"))
    assert reply.kind == "error"
    assert reply.text == snapshot(
        "No model key configured: set ANTHROPIC_API_KEY to use anthropic:claude-sonnet-4-5 (or pick another model with --model / FOREMAN_MODEL). Commands like /projects and /help work without one."
    )
    monkeypatch.setenv("FOREMAN_MODEL", "openai:gpt-5")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    [reply] = await svc.handle(dm("show me all sessions"))
    assert "set OPENAI_API_KEY to use openai:gpt-5" in reply.text
    # Nothing was recorded as spent.
    assert svc.conversations.usage(dm().chat.key).requests == 0


async def test_yes_with_several_pending_cards_asks_for_an_id(make_service):
    svc = make_service(None)
    await svc.handle(dm("/status 0015 implementing"))
    await svc.handle(dm("/status 0016 specified"))
    [reply] = await svc.handle(dm("yes"))
    assert reply.text.startswith("Several approvals are pending")
    assert len(svc.approvals.pending(principal=ADA.key)) == 2


async def test_group_messages_are_not_the_assistants(make_service):
    from assistant.messages import ChatRef, Inbound

    svc = make_service(None)
    group = ChatRef("telegram", "-100", is_direct=False)
    assert await svc.handle(Inbound(chat=group, sender=ADA, text="/projects")) == []


async def test_chat_finds_projects_as_the_cli_does(make_service, workspace):
    """`on_hold` as written in real files is on-hold; `14` is project 0014."""
    path = workspace.projectlist_path
    path.write_text(path.read_text().replace("status: conceived", "status: on_hold"))
    svc = make_service(None)
    [held] = await svc.handle(dm("/projects on-hold"))
    assert held.text == "0016 · on_hold · Voice Notes"
    [same] = await svc.handle(dm("/projects on_hold"))
    assert same.text == held.text
    [project] = await svc.handle(dm("/project 14"))
    assert project.text.splitlines()[0] == "0014 · Ironman Training"

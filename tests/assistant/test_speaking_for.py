"""Another agent speaks for the human: its cards are the human's to decide, in the human's chat."""

from __future__ import annotations

from pathlib import Path

from inline_snapshot import snapshot
from pydantic_ai.messages import ModelRequest, TextPart, ToolReturnPart, UserPromptPart

from assistant.messages import ChatRef, Inbound, Principal
from tests.assistant.scripted_chat import (
    ADA,
    ADA_DM,
    MALLORY,
    Scripted,
    call,
    dm,
    tool_returns,
)

AGENT = Principal("mcp", "client")
AGENT_CHAT = ChatRef("mcp", "client")


def said(text: str = "", callback: str | None = None) -> Inbound:
    """A message from the agent in its own chat."""
    return Inbound(
        chat=AGENT_CHAT, sender=AGENT, text=text, message_id="a1", callback_data=callback
    )


def _history_text(svc, chat: ChatRef) -> str:
    return "\n".join(
        str(part.content)
        for message in svc.conversations.load(chat.key)
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart | UserPromptPart)
    )


async def test_a_card_from_an_agent_is_filed_for_the_human(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    svc = make_service(
        Scripted([call("set_project_status", id="0015", status="implementing", reason="go")]).model
    )
    card, waiting = await svc.handle(said("start 0015"), approver=ADA)
    approval = svc.approval(card.extra["approval_id"])
    assert (approval.principal, approval.chat, approval.approver_chat) == (
        ADA.key,
        AGENT_CHAT,
        ADA_DM,
    )
    # the card goes to Ada's DM; the agent is told, deterministically, whom it waits for
    assert (card.chat, card.kind) == (ADA_DM, "approval_card")
    assert waiting.chat == AGENT_CHAT
    assert waiting.text.replace(approval.id, "ID") == snapshot("""\
Waiting for telegram:111 to approve ID: Set 0015 New Feature: planned → implementing
.ai/projectlist.md: 0015: status planned → implementing (line 34)
Reason: go\
""")
    assert workspace.projectlist_path.read_bytes() == before
    assert [a.id for a in svc.approvals.pending(principal=ADA.key)] == [approval.id]
    assert svc.approvals.pending(principal=AGENT.key) == []
    [requested] = svc.approvals.audit_log(approval_id=approval.id)
    assert (requested.action, requested.details["principal"], requested.details["shown_in"]) == (
        "approval.requested",
        ADA.key,
        ADA_DM.key,
    )


async def test_the_agent_can_never_approve(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    svc = make_service(
        Scripted(
            [call("set_project_status", id="0015", status="implementing", reason="go")],
            lambda messages: [TextPart("I cannot approve that.")],
        ).model
    )
    card, _ = await svc.handle(said("start 0015"), approver=ADA)
    approval_id = card.extra["approval_id"]

    [yes] = await svc.handle(said("yes"), approver=ADA)
    assert (yes.chat, yes.kind) == (AGENT_CHAT, "error")
    assert yes.text.replace(approval_id, "ID") == snapshot(
        "Only telegram:111 can decide ID: Set 0015 New Feature: planned → implementing"
    )
    [slash] = await svc.handle(said(f"/approve {approval_id}"), approver=ADA)
    assert "only be resolved by the person it was asked of" in slash.text
    [press] = await svc.handle(said(callback=f"approve:{approval_id}"), approver=ADA)
    assert press.kind == "error"
    [listed] = await svc.handle(said("/approvals"), approver=ADA)
    assert listed.text == "No approvals waiting."
    # nor as itself, without a human to speak for: it is no principal of this assistant
    assert await svc.handle(said(f"/approve {approval_id}")) == []
    # nor may it name someone who is not a principal as the approver
    assert await svc.handle(said("start 0015"), approver=Principal("telegram", "999")) == []
    # nor can another principal approve Ada's card
    [refused] = await svc.handle(dm(f"/approve {approval_id}", sender=MALLORY))
    assert refused.kind == "error"

    assert svc.approval(approval_id).state == "pending"
    assert workspace.projectlist_path.read_bytes() == before
    actions = [(e.actor, e.action) for e in svc.approvals.audit_log(approval_id=approval_id)]
    assert actions == [
        ("assistant", "approval.requested"),
        (AGENT.key, "approval.refused"),
        (AGENT.key, "approval.refused"),
        (AGENT.key, "approval.refused"),
        (MALLORY.key, "approval.refused"),
    ]


async def test_the_human_approves_and_the_agent_learns_the_outcome(make_service, workspace):
    script = Scripted(
        [call("set_project_status", id="0015", status="implementing", reason="go")],
        lambda messages: [TextPart(tool_returns(messages)["set_project_status"])],
    )
    svc = make_service(script.model)
    card, _ = await svc.handle(said("start 0015"), approver=ADA)
    approval_id = card.extra["approval_id"]

    # "yes" in Ada's own DM answers the one card shown there
    [done] = await svc.handle(dm("yes"))
    assert done.chat == ADA_DM
    assert done.text == snapshot("""\
✓ 0015: planned → implementing
0015: status planned → implementing (line 34)\
""")
    assert "status: implementing" in workspace.projectlist_path.read_text()
    [approved] = [
        e for e in svc.approvals.audit_log(approval_id=approval_id) if e.action.endswith(".done")
    ]
    assert (approved.actor, approved.action) == (ADA.key, "approval.approved.done")
    # recorded where the request was made, not in Ada's DM; no model call was needed
    assert svc.conversations.load(ADA_DM.key) == []
    assert script.requests == 1

    [reply] = await svc.handle(said("did it happen?"), approver=ADA)
    assert reply.text == snapshot('{"status": "done", "summary": "0015: planned → implementing"}')
    assert "rejected" not in _history_text(svc, AGENT_CHAT)


async def test_a_rejection_names_the_human_in_the_agents_history(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    script = Scripted(
        [call("set_project_status", id="0016", status="planned", reason="ready")],
        lambda messages: [TextPart(tool_returns(messages)["set_project_status"])],
    )
    svc = make_service(script.model)
    card, _ = await svc.handle(said("plan 0016"), approver=ADA)
    approval_id = card.extra["approval_id"]
    [rejected] = await svc.handle(dm(callback=f"reject:{approval_id}"))
    assert (rejected.chat, rejected.text.split(":")[0]) == (ADA_DM, f"Rejected {approval_id}")
    [reply] = await svc.handle(said("and?"), approver=ADA)
    assert reply.text == f"telegram:111 rejected {approval_id}."
    assert workspace.projectlist_path.read_bytes() == before
    [decision] = [
        e
        for e in svc.approvals.audit_log(approval_id=approval_id)
        if e.action != "approval.requested"
    ]
    assert (decision.actor, decision.action) == (ADA.key, "approval.rejected")


async def test_while_pending_the_agents_next_turn_is_told_it_waits(make_service):
    script = Scripted(
        [call("create_builder", project_id="0015")],
        lambda messages: [TextPart(tool_returns(messages)["create_builder"])],
    )
    svc = make_service(script.model)
    card, _ = await svc.handle(said("builder for 0015"), approver=ADA)
    [reply] = await svc.handle(said("is it there yet?"), approver=ADA)
    assert reply.text == (
        f"Not run yet: waiting for telegram:111's decision on approval {card.extra['approval_id']}."
    )


async def test_status_command_from_the_agent_waits_for_the_human(make_service, workspace):
    svc = make_service()
    card, waiting = await svc.handle(said("/status 0016 specified first draft"), approver=ADA)
    approval_id = card.extra["approval_id"]
    assert (card.chat, waiting.chat) == (ADA_DM, AGENT_CHAT)
    assert waiting.text.startswith(f"Waiting for telegram:111 to approve {approval_id}: Set 0016")
    # Ada sees it among her approvals, in her DM, and approves it there
    [listed] = await svc.handle(dm("/approvals"))
    assert (listed.chat, listed.extra["approval_id"]) == (ADA_DM, approval_id)
    [done] = await svc.handle(dm(f"/approve {approval_id}"))
    assert done.text.startswith("✓ 0016: conceived → specified")
    assert "(card" in _history_text(svc, AGENT_CHAT)


async def test_a_stale_card_is_proposed_again_to_the_human(make_service, workspace):
    svc = make_service(
        Scripted([call("set_project_status", id="0015", status="implementing", reason="go")]).model
    )
    card, _ = await svc.handle(said("start 0015"), approver=ADA)
    path = workspace.projectlist_path
    # the card's own entry changes (a card is stale only when its project changed)
    path.write_text(path.read_text().replace("New Feature", "New Features"))
    stale, fresh = await svc.handle(dm(callback=f"approve:{card.extra['approval_id']}"))
    assert (stale.chat, stale.kind) == (ADA_DM, "error")
    assert "stale" in stale.text
    again = svc.approval(fresh.extra["approval_id"])
    assert (fresh.chat, again.principal, again.chat, again.approver_chat) == (
        ADA_DM,
        ADA.key,
        AGENT_CHAT,
        ADA_DM,
    )


async def test_a_refused_terminate_offers_the_human_keep_or_force(make_service, workspace):
    svc = make_service(Scripted([call("terminate_builder", name="0014-ironman-training")]).model)
    builder = await svc.orchestrator.create_builder("0014")
    (Path(builder.path) / "ai-dev" / "intervals.py").write_text("print('tempo')\n")
    card, _ = await svc.handle(said("remove the 0014 builder"), approver=ADA)
    terminate_id = card.extra["approval_id"]

    [refusal] = await svc.handle(dm("yes"))
    assert refusal.chat == ADA_DM
    assert [c.data for c in refusal.choices] == [
        f"keep:{terminate_id}",
        f"force:{terminate_id}",
        f"patch:{terminate_id}",
    ]
    [not_yours] = await svc.handle(said(callback=f"force:{terminate_id}"), approver=ADA)
    assert not_yours.kind == "error"
    # the patch is the human's to see: the agent speaking for them gets no file
    [no_patch] = await svc.handle(said(callback=f"patch:{terminate_id}"), approver=ADA)
    assert (no_patch.kind, no_patch.files) == ("error", ())

    [force_card] = await svc.handle(dm(callback=f"force:{terminate_id}"))
    force = svc.approval(force_card.extra["approval_id"])
    assert (force_card.chat, force.principal, force.chat) == (ADA_DM, ADA.key, AGENT_CHAT)
    [gone] = await svc.handle(dm(f"/approve {force.id}"))
    assert gone.text.startswith("✓ Builder 0014-ironman-training terminated; what it discarded")
    assert not Path(builder.path).exists()

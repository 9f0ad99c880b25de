"""The approval desk on its own: what a decision returns, from whichever door it came in."""

from __future__ import annotations

from pydantic_ai.messages import ModelRequest, ToolReturnPart

from tests.assistant.scripted_chat import ADA, Scripted, call, dm


def _results(svc, chat_key: str) -> dict[str, str]:
    return {
        part.tool_call_id: part.model_response_str()
        for message in svc.conversations.load(chat_key)
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    }


async def test_a_decision_returns_what_the_action_did_and_the_history_says_the_same(
    make_service, workspace
):
    svc = make_service(
        Scripted([call("set_project_status", id="0015", status="implementing", reason="go")]).model
    )
    [card] = await svc.handle(dm("start 0015"))
    approval_id = card.extra["approval_id"]

    decision = await svc.desk.decide(approval_id, ADA, True)

    assert decision.ok
    assert (decision.outcome.status, decision.outcome.summary) == (
        "done",
        "0015: planned → implementing",
    )
    assert decision.approval.state == "done"
    assert "status: implementing" in workspace.projectlist_path.read_text()
    # The model's own call learns the outcome the desk returned, nothing else.
    call_id = decision.approval.tool_call_id
    assert _results(svc, dm().chat.key)[call_id] == decision.outcome.for_model()


async def test_a_rejection_carries_nothing_out(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    svc = make_service(None)
    [card] = await svc.handle(dm("/status 0015 implementing"))

    decision = await svc.desk.decide(card.extra["approval_id"], ADA, False)

    assert decision.ok and decision.outcome is None
    assert decision.approval.state == "rejected"
    assert workspace.projectlist_path.read_bytes() == before


async def test_a_press_finds_its_card_whatever_the_case_of_the_id(make_service):
    svc = make_service(None)
    [card] = await svc.handle(dm("/status 0015 implementing"))
    approval_id = card.extra["approval_id"]

    [done] = await svc.handle(dm(callback=f"approve:{approval_id.upper()}"))

    assert done.text.startswith("✓ 0015: planned → implementing")
    assert svc.approval(approval_id).state == "done"

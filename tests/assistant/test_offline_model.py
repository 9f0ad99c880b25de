"""`offline` is a model name like any other: the scripted policy, no key, no network."""

from __future__ import annotations

import pytest
from inline_snapshot import snapshot

from tests.assistant.scripted_chat import dm


async def test_a_chat_on_the_offline_model_works_without_a_key(make_service, monkeypatch) -> None:
    monkeypatch.setenv("FOREMAN_MODEL", "offline")
    svc = make_service()  # no model given: FOREMAN_MODEL names it, as for `foreman chat`

    [reply] = await svc.handle(dm("show me all sessions"))

    assert reply.text == snapshot("""\
Projects:
0013 integrated Slack Gateway
0014 implementing Ironman Training
0015 planned New Feature
0016 conceived Voice Notes
No builders are running.\
""")


async def test_the_offline_model_proposes_changes_for_approval(make_service) -> None:
    svc = make_service("offline")

    out = await svc.handle(dm("I want to start working on project 0015"))

    assert out[0].text == "Moving 0015 to implementing and creating its builder."
    cards = [m for m in out if m.kind == "approval_card"]
    assert [c.extra["approval_id"] for c in cards] == [
        a.id for a in svc.approvals.pending(chat_key=dm().chat.key)
    ]
    assert len(cards) == 2


@pytest.mark.parametrize("name", ["offline", None])
def test_resolve_model_knows_the_offline_name(name: str | None, monkeypatch) -> None:
    from assistant.agent import OFFLINE_MODEL_NAME, resolve_model

    monkeypatch.setenv("FOREMAN_MODEL", "offline")
    assert resolve_model(name).model_name == OFFLINE_MODEL_NAME

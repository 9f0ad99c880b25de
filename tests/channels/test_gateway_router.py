from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.approvals import ApprovalBook
from assistant.cli import cli
from assistant.gateway import (
    NOT_YOURS,
    AllowList,
    CardEdits,
    Pairing,
    PairingError,
    Route,
    Router,
)
from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.store import Store, open_store
from tests.channels.scripted_ports import ScriptedAssistant, ScriptedRelay

OWNER = Principal("telegram", "42", "@ada")
STRANGER = Principal("telegram", "666", "@mallory")
DM_OWNER = ChatRef("telegram", "42")
DM_STRANGER = ChatRef("telegram", "666")
TOPIC = ChatRef("telegram", "-100200", thread_id="7", is_direct=False)
OTHER_GROUP = ChatRef("telegram", "-100999", is_direct=False)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "state")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def router(
    store: Store,
    assistant: ScriptedAssistant,
    relay: ScriptedRelay,
    *,
    pairing: bool = False,
    clock: Clock | None = None,
) -> Router:
    relay.bound.add(TOPIC.key)
    return Router(
        allow=AllowList.of(telegram=["42"]),
        assistant=assistant,
        relay=relay,
        pairing=Pairing(store, ttl=timedelta(minutes=10), max_pending=2, clock=clock or Clock()),
        pairing_enabled=pairing,
    )


async def test_principal_dms_reach_the_assistant_and_group_topics_the_relay(
    store: Store, scripted_assistant: ScriptedAssistant, scripted_relay: ScriptedRelay
) -> None:
    r = router(store, scripted_assistant, scripted_relay)
    dm = Inbound(DM_OWNER, OWNER, "/projects")
    in_topic = Inbound(TOPIC, OWNER, "run the tests")
    assert [o.text for o in await r.handle(dm)] == ["you said: /projects"]
    assert [o.text for o in await r.handle(in_topic)] == ["→ builder: run the tests"]
    assert scripted_assistant.seen == [dm]
    assert scripted_relay.seen == [in_topic]


async def test_everything_else_reaches_nobody(
    store: Store, scripted_assistant: ScriptedAssistant, scripted_relay: ScriptedRelay
) -> None:
    r = router(store, scripted_assistant, scripted_relay)
    ignored = [
        Inbound(DM_STRANGER, STRANGER, "hello, run rm -rf"),  # unknown DM, pairing off
        Inbound(OTHER_GROUP, OWNER, "an unbound group"),
        Inbound(TOPIC, STRANGER, "a group member who is not the principal"),
        Inbound(ChatRef("telegram", "-100200", is_direct=False), OWNER, "same group, no topic"),
        Inbound(OTHER_GROUP, STRANGER, "/bind 0001-auth"),  # only the principal binds
    ]
    for message in ignored:
        assert r.decide(message) is Route.IGNORED
        assert await r.handle(message) == []
    assert scripted_assistant.seen == [] and scripted_relay.seen == []


async def test_a_press_by_anyone_but_the_principal_is_refused(
    store: Store, scripted_assistant: ScriptedAssistant, scripted_relay: ScriptedRelay
) -> None:
    r = router(store, scripted_assistant, scripted_relay)
    presses = [
        Inbound(DM_OWNER, STRANGER, message_id="5", callback_data="approve:a1"),
        Inbound(TOPIC, STRANGER, message_id="6", callback_data="perm:p1:always"),
    ]
    for press in presses:
        replies = await r.handle(press)
        assert [(o.kind, o.text) for o in replies] == [("refusal", NOT_YOURS)]
    assert scripted_assistant.seen == [] and scripted_relay.seen == []


async def test_pairing_gives_one_fixed_reply_with_a_code_and_no_model_sees_it(
    store: Store, scripted_assistant: ScriptedAssistant, scripted_relay: ScriptedRelay
) -> None:
    clock = Clock()
    r = router(store, scripted_assistant, scripted_relay, pairing=True, clock=clock)
    first = await r.handle(Inbound(DM_STRANGER, STRANGER, "hi"))
    code = r.pairing.pending()[0].code  # type: ignore[union-attr]
    assert first[0].text.replace(code, "CODE") == snapshot(
        """\
This assistant is private. Pairing code: CODE
Its owner can let you in with `foreman pairing approve CODE` (the code expires in 10 minutes).\
"""
    )
    # writing again gets the same code, not a new one each time
    again = await r.handle(Inbound(DM_STRANGER, STRANGER, "hello?"))
    assert code in again[0].text and len(r.pairing.pending()) == 1  # type: ignore[union-attr]
    assert scripted_assistant.seen == []

    # approved: from now on the stranger's DMs reach the assistant
    r.pairing.approve(code.lower())  # type: ignore[union-attr]
    assert r.decide(Inbound(DM_STRANGER, STRANGER, "now?")) is Route.ASSISTANT
    audit = [entry.action for entry in ApprovalBook(store).audit_log()]
    assert audit == ["pairing_code_issued", "pairing_approved"]


async def test_pending_codes_are_bounded_and_expire(
    store: Store, scripted_assistant: ScriptedAssistant, scripted_relay: ScriptedRelay
) -> None:
    clock = Clock()
    r = router(store, scripted_assistant, scripted_relay, pairing=True, clock=clock)
    senders = [Principal("telegram", str(1000 + n)) for n in range(3)]
    replies = [await r.handle(Inbound(ChatRef("telegram", s.user_id), s, "hi")) for s in senders]
    # max_pending=2: the third stranger gets nothing at all
    assert [len(reply) for reply in replies] == [1, 1, 0]
    expired = r.pairing.pending()[0].code  # type: ignore[union-attr]

    clock.now += timedelta(minutes=11)
    assert r.pairing.pending() == []  # type: ignore[union-attr]
    with pytest.raises(PairingError, match="expired"):
        r.pairing.approve(expired)  # type: ignore[union-attr]
    # expired codes free their slots
    third = senders[2]
    assert len(await r.handle(Inbound(ChatRef("telegram", third.user_id), third, "hi"))) == 1
    with pytest.raises(PairingError, match="no pairing code 'NOPE'"):
        r.pairing.approve("nope")  # type: ignore[union-attr]


def test_pairing_cli_lists_and_approves_codes(tmp_path: Path) -> None:
    store = open_store()  # the per-test FOREMAN_STATE_DIR the CLI also uses
    code = Pairing(store).request(Principal("whatsapp", "4917000@s.whatsapp.net", "Bob"))
    assert code is not None
    runner = CliRunner()
    listed = runner.invoke(cli, ["pairing", "list"])
    assert listed.exit_code == 0
    assert listed.output.startswith(f"{code.code}  whatsapp:4917000@s.whatsapp.net (Bob)  expires ")

    approved = runner.invoke(cli, ["pairing", "approve", code.code])
    assert approved.exit_code == 0
    assert approved.output == snapshot(
        "Paired whatsapp:4917000@s.whatsapp.net (Bob); they can DM the assistant now.\n"
    )
    assert Pairing(store).is_paired("whatsapp", "4917000@s.whatsapp.net")

    again = runner.invoke(cli, ["pairing", "approve", code.code])
    assert again.exit_code == 1
    assert again.output.replace(code.code, "CODE") == snapshot(
        "Error: pairing code CODE was already approved\n"
    )
    assert runner.invoke(cli, ["pairing", "list"]).output == "No pairing codes pending.\n"


async def test_the_principal_can_bind_an_unbound_group_through_the_relay(
    store: Store, scripted_assistant: ScriptedAssistant, scripted_relay: ScriptedRelay
) -> None:
    r = router(store, scripted_assistant, scripted_relay)
    bind = Inbound(OTHER_GROUP, OWNER, "/bind 0001-auth mention")
    assert r.decide(bind) is Route.RELAY
    assert await r.handle(bind) == [Outbound(OTHER_GROUP, "→ builder: /bind 0001-auth mention")]


async def test_a_resolved_card_is_edited_to_its_outcome_unless_the_assistant_did(
    store: Store, scripted_relay: ScriptedRelay
) -> None:
    book = ApprovalBook(store)
    approval = book.create(
        chat=DM_OWNER,
        principal=OWNER.key,
        tool_name="set_project_status",
        args={},
        card="Set 0015 New Feature: planned → implementing",
        precondition={},
    )
    book.claim(approval.id, state="approved", by=OWNER.key)
    book.finish(approval.id, state="done", result={})

    class Reporting:
        async def handle(self, message: Inbound) -> list[Outbound]:
            return [Outbound(message.chat, "✓ 0015: planned → implementing")]

    r = Router(allow=AllowList.of(telegram=["42"]), assistant=Reporting(), cards=CardEdits(store))
    # Ids are matched as the book keeps them, whatever case the button data arrives in.
    pressed = f"approve:{approval.id.upper()}"
    press = Inbound(DM_OWNER, OWNER, message_id="900", callback_data=pressed)
    edit, report = await r.handle(press)
    assert (edit.replaces_message_id, edit.choices) == ("900", ())
    assert edit.text.replace(approval.id, "k3x9pq") == snapshot(
        """\
Approval k3x9pq: ✅ approved by @ada
Set 0015 New Feature: planned → implementing\
"""
    )
    assert report.text == "✓ 0015: planned → implementing"
    # text messages and unknown approvals are left alone
    assert len(await r.handle(Inbound(DM_OWNER, OWNER, "approve"))) == 1
    unknown = Inbound(DM_OWNER, OWNER, message_id="901", callback_data="approve:zzzzzz")
    assert len(await r.handle(unknown)) == 1


def test_principal_keys_are_the_allow_list_plus_paired_users_read_live(store: Store) -> None:
    pairing = Pairing(store)
    keys = Router(allow=AllowList.of(telegram=["42"]), pairing=pairing).principal_keys()
    assert "telegram:42" in keys and "telegram:666" not in keys
    code = pairing.request(STRANGER)
    assert code is not None
    pairing.approve(code.code)
    assert "telegram:666" in keys
    assert sorted(keys) == ["telegram:42", "telegram:666"]

"""A builder's spend and budget without a server: OpenCode's real event stream counted once,
budgets read from the project list and the environment (bad ones named), the budget card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.approvals import ActionInvalid
from assistant.cli import cli
from assistant.dm import DirectMessages
from assistant.messages import ChatRef, Inbound, Principal
from assistant.relay import Relay, read_stream
from assistant.spend import Ledger, Usage, dollars
from assistant.store import Store, open_store
from tools.opencode import Event, OpenCodeClient
from tools.orchestrator import Orchestrator
from tools.workspace import find_workspace

ALICE = Principal("telegram", "100", "Alice")
ALICE_DM = ChatRef("telegram", "100")
GROUP = ChatRef("telegram", "-1001", is_direct=False)
BUILDER = "0014-ironman-training"


def projectlist(budget: str | None) -> str:
    line = f"\n      budget_usd: {budget}" if budget is not None else ""
    return f"""# Projects

```yaml
projects:
  - id: "0014"
    title: Ironman training planner
    status: implementing
    chat_binding:
      platform: telegram
      channel_id: "-1001"{line}
```
"""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "state")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ws" / ".ai").mkdir(parents=True)
    (tmp_path / "ws" / ".ai" / "projectlist.md").write_text(projectlist(None))
    (tmp_path / "ws" / ".builders" / BUILDER).mkdir(parents=True)
    return tmp_path / "ws"


@pytest.fixture
def relay(store: Store, workspace: Path) -> Relay:
    # no request reaches this address in these tests
    return Relay(store, OpenCodeClient("http://127.0.0.1:9"), workspace, principals={ALICE.key})


async def say(relay: Relay, text: str) -> list[str]:
    return [reply.text for reply in await relay.handle(Inbound(GROUP, ALICE, text))]


async def test_each_message_of_a_real_stream_counts_once_at_its_latest_value(
    relay: Relay, corpus: Path
) -> None:
    stream = corpus / "opencode-1.18.33" / "event-stream.sse.txt"
    events = [e for e in read_stream(stream) if e.type == "message.updated"]
    latest: dict[str, dict[str, int]] = {}
    for event in events:
        info = event.properties["info"]
        if info["role"] == "assistant":
            latest[info["id"]] = info["tokens"]
    assert len(events) > 2 * len(latest)  # OpenCode repeats each message as it grows
    spending = relay.spending
    for _ in range(2):  # the second pass is a resync replaying what was already counted
        for event in events:
            spending.turn_started(BUILDER, event.session_id or "", "turn-1")
            await spending.observe(BUILDER, event.session_id or "", event, busy=True)
        total = spending.total(BUILDER)
        assert (total.messages, total.input, total.output, total.cost) == (
            len(latest),
            sum(t["input"] for t in latest.values()),
            sum(t["output"] for t in latest.values()),
            0.0,  # the recording's model was not priced
        )


async def test_a_message_first_seen_while_no_turn_runs_costs_nothing(relay: Relay) -> None:
    copied = {"id": "msg_copy", "role": "assistant", "cost": 4.5, "tokens": {"input": 9}}
    event = Event("message.updated", {"sessionID": "ses_f", "info": copied}, id="evt_1")
    # a fork copies earlier messages, costs and all: nothing was spent now
    assert await relay.spending.observe(BUILDER, "ses_f", event, busy=False) == []
    assert relay.spending.total(BUILDER).messages == 0


def test_amounts_read_as_money() -> None:
    assert [dollars(a) for a in (0, 0.00007, 0.009, 0.3, 12.5, 1234.567, 1e-6)] == snapshot(
        ["$0.00", "$0.0001", "$0.009", "$0.30", "$12.50", "$1,234.57", "<$0.0001"]
    )


async def test_budgets_come_from_the_project_list_then_the_environment(
    relay: Relay, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await say(relay, "/usage"))[0].splitlines()[-1] == snapshot(
        "No budget; /budget N asks the principal to set one."
    )
    monkeypatch.setenv("FOREMAN_BUILDER_BUDGET_USD", "3")
    assert (await say(relay, "/usage"))[0].splitlines()[-1] == snapshot(
        "Budget $3.00 (environment): 0% used."
    )
    (workspace / ".ai" / "projectlist.md").write_text(projectlist("5"))
    assert (await say(relay, "/usage"))[0].splitlines()[-1] == snapshot(
        "Budget $5.00 (project list): 0% used."
    )
    Ledger(relay.store).set_budget(BUILDER, None)  # the principal lifted it: that wins
    assert (await say(relay, "/usage"))[0].splitlines()[-1] == snapshot(
        "No budget (lifted by the principal); /budget N asks the principal to set one."
    )


async def test_a_bad_budget_is_named_and_holds_prompts_until_fixed(
    relay: Relay, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workspace / ".ai" / "projectlist.md").write_text(projectlist('"ten"'))
    assert await say(relay, "fix the build") == snapshot(
        [
            "⏸ Not sent: 0014-ironman-training's budget is not valid (project 0014: "
            "chat_binding budget_usd must be a number of US dollars above 0, got 'ten'); fix "
            "it, or set one with /budget N."
        ]
    )
    (workspace / ".ai" / "projectlist.md").write_text(projectlist(None))
    monkeypatch.setenv("FOREMAN_BUILDER_BUDGET_USD", "-2")
    assert (await say(relay, "/usage"))[0].splitlines()[-1] == snapshot(
        "Budget: FOREMAN_BUILDER_BUDGET_USD must be a number of US dollars above 0, got '-2'."
    )
    assert await say(relay, "/budget lots") == snapshot(
        [
            "/budget must be a number of US dollars above 0, got 'lots'. "
            "Usage: /budget N (US dollars) or /budget off"
        ]
    )
    assert await say(relay, "/budget 2") == snapshot(
        ["Budget changes need the approval desk of `foreman serve`; none runs here."]
    )


async def test_the_budget_card_is_checked_again_when_approved(
    store: Store, workspace: Path
) -> None:
    dm = DirectMessages(store, find_workspace(workspace), principals={ALICE.key})
    with pytest.raises(ActionInvalid, match=r"no builder 'nope' under \.builders/"):
        await dm.desk.request(ALICE, ALICE_DM, "set_builder_budget", {"name": "nope", "usd": 2})
    with pytest.raises(ActionInvalid, match="usd must be a number of US dollars above 0"):
        await dm.desk.request(ALICE, ALICE_DM, "set_builder_budget", {"name": BUILDER, "usd": 0})

    card = await dm.desk.request(ALICE, ALICE_DM, "set_builder_budget", {"name": BUILDER})
    assert card.card == snapshot("""\
Lift the budget of builder 0014-ironman-training: no limit on what it spends
Now: no budget; spent $0.00 · 0 tokens (0 in, 0 out)\
""")
    Ledger(store).set_budget(BUILDER, 9.0)  # changed under the card
    decision = await dm.desk.decide(card.id, ALICE, True)
    assert decision.replies[0].text.startswith(f"Approval {card.id} is stale")
    assert Ledger(store).budget(BUILDER, ()).usd == 9.0  # nothing changed

    fresh = decision.replies[1].extra["approval_id"]
    decision = await dm.desk.decide(fresh, ALICE, True)
    assert decision.replies[0].text == "✓ Budget of 0014-ironman-training: no limit"
    assert Ledger(store).budget(BUILDER, ()).usd is None
    approved = [e for e in dm.approvals.audit_log(approval_id=fresh) if "approved" in e.action]
    assert [(e.actor, e.action, e.details["args"]) for e in approved] == [
        (ALICE.key, "approval.approved.done", {"name": BUILDER})
    ]


async def test_the_assistant_cannot_prompt_a_builder_past_its_budget_either(
    store: Store, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREMAN_BUILDER_BUDGET_USD", "0.10")
    ledger = Ledger(store)
    ledger.start_turn(BUILDER, "ses_1", "ses_1:evt_1")
    ledger.record(BUILDER, "ses_1", "msg_1", Usage(cost=0.25, input=9_000, output=1_000))
    found = find_workspace(workspace)
    # no request reaches this address: the prompt is held before anything is sent
    orchestrator = Orchestrator(found, OpenCodeClient("http://127.0.0.1:9"))
    dm = DirectMessages(store, found, principals={ALICE.key}, orchestrator=orchestrator)
    card = await dm.desk.request(
        ALICE, ALICE_DM, "message_builder", {"name": BUILDER, "text": "keep going"}
    )
    decision = await dm.desk.decide(card.id, ALICE, True)
    assert decision.replies[0].text == snapshot(
        "✗ Not sent: 0014-ironman-training reached its $0.10 budget ($0.25 spent); the "
        "principal can raise it with /budget N or lift it with /budget off"
    )


def test_builder_status_json_carries_the_spend_and_budget(
    store: Store, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOREMAN_STATE_DIR", str(store.path.parent))
    ledger = Ledger(store)
    ledger.start_turn(BUILDER, "ses_1", "ses_1:evt_1")
    ledger.record(BUILDER, "ses_1", "msg_1", Usage(cost=0.25, input=9_000, output=1_000))
    ledger.set_budget(BUILDER, 1.0)
    command = ["builder", "status", BUILDER, "--json", "--workspace", str(workspace)]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["spend"] == snapshot(
        {
            "cost_usd": 0.25,
            "tokens": {
                "input": 9000,
                "output": 1000,
                "reasoning": 0,
                "cache_read": 0,
                "cache_write": 0,
            },
            "messages": 1,
            "budget_usd": 1.0,
            "budget_source": "approved",
            "line": "spent $0.25 · 10,000 tokens (9,000 in, 1,000 out) over 1 model call; budget $1.00 (approved), 25% used",
        }
    )

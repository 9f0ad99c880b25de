"""Cost per builder and its budget, end to end: a real `opencode serve` whose fake model
reports usage and is priced, so the dollars below are the ones OpenCode itself computed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from assistant.dm import DirectMessages
from assistant.gateway import budget_cards
from assistant.messages import ChatRef, Inbound, Outbound
from assistant.relay import Binding, Relay, save_binding
from assistant.store import open_store
from tests.opencode_server import FakeLLM, OpenCodeProcess, Stall, Text, ToolCall
from tests.relay.test_live import ALICE, BOB, GROUP, Chat, running_relay
from tools.opencode import Event, OpenCodeClient, Resync
from tools.workspace import find_workspace

BUILDER = "0014-ironman-training"  # the builder `running_relay` binds
ALICE_DM = ChatRef("telegram", "100")
PROJECTLIST = """# Projects

```yaml
projects:
  - id: "0014"
    title: Ironman training planner
    status: implementing
```
"""
BIG = (30_000, 24_000)  # $0.06 in + $0.24 out at the fake's price: $0.30 a call, and
# well inside the context window (a call near it makes OpenCode compact the session)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    (root / ".builders" / BUILDER).mkdir(parents=True)
    (root / ".ai").mkdir()
    (root / ".ai" / "projectlist.md").write_text(PROJECTLIST)
    return root


@pytest.fixture
async def chat(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> AsyncIterator[Chat]:
    async with running_relay(opencode_server, workspace, tmp_path) as chat:
        yield chat


async def until_idle(chat: Chat, timeout: float = 30) -> None:
    session_id = chat.relay.current_session(BUILDER)
    directory = chat.relay.directory(BUILDER)
    async with asyncio.timeout(timeout):
        while session_id in await chat.relay.opencode.session_status(directory):
            await asyncio.sleep(0.05)


async def test_done_shows_the_turns_cost_and_usage_the_builders_totals(
    chat: Chat, fake_llm: FakeLLM, workspace: Path, opencode_server: OpenCodeProcess
) -> None:
    fake_llm.script(Text("Planned the week.", usage=BIG), when="plan")
    await chat.say("plan the week")
    assert await chat.until("complete") == ["started", "complete"]
    assert chat.seen[-1].text == snapshot("""\
✅ Done
Planned the week.
💰 This turn: $0.30 · 54,000 tokens (30,000 in, 24,000 out)\
""")

    # a turn of two model calls (a tool call, then the answer) is one turn's cost
    fake_llm.script(
        ToolCall("bash", {"command": "echo ok", "description": "run"}, usage=(1_000, 100)),
        Text("Ran it.", usage=(2_000, 200)),
        when="run it",
    )
    await chat.say("run it")
    assert await chat.until("complete") == ["started", "complete"]
    assert chat.seen[-1].text.splitlines()[-1] == snapshot(
        "💰 This turn: $0.009 · 3,300 tokens (3,000 in, 300 out)"
    )

    (usage,) = await chat.say("/usage")
    assert usage.text == snapshot("""\
0014-ironman-training spent $0.31 · 57,300 tokens (33,000 in, 24,300 out) over 3 model calls.
No budget; /budget N asks the principal to set one.\
""")

    # a relay started afresh on the same state counts nothing twice, and nothing is lost
    restarted = Relay(
        chat.relay.store,
        OpenCodeClient(opencode_server.url, password=opencode_server.password),
        workspace,
        principals={ALICE.key},
    )
    try:
        (again,) = await restarted.handle(Inbound(GROUP, ALICE, "/usage"))
        assert again.text == usage.text
    finally:
        await restarted.opencode.aclose()

    command = ["builder", "status", BUILDER, "--workspace", str(workspace)]
    result = await asyncio.to_thread(CliRunner().invoke, cli, command)  # it runs its own loop
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == snapshot(
        "  spent $0.31 · 57,300 tokens (33,000 in, 24,300 out) over 3 model calls; no budget"
    )


async def test_a_subagents_model_calls_count_for_the_turn_that_started_it(
    chat: Chat, fake_llm: FakeLLM
) -> None:
    task = {
        "description": "count lines",
        "prompt": "subagent-job: count the lines of README",
        "subagent_type": "general",
    }
    fake_llm.script(
        ToolCall("task", task, usage=(1_000, 100)),
        Text("It counted them.", usage=(2_000, 200)),
        when="hand off",
    )
    fake_llm.script(Text("3 lines.", usage=(4_000, 400)), when="subagent-job")
    await chat.say("hand off the counting")
    assert await chat.until("complete") == ["started", "complete"]
    assert any("subagent-job" in text for text in fake_llm.texts())  # the subagent ran
    assert chat.seen[-1].text.splitlines()[-1] == snapshot(
        "💰 This turn: $0.021 · 7,700 tokens (7,000 in, 700 out)"
    )


async def test_model_calls_made_while_the_stream_was_down_are_read_back_once(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    store = open_store(tmp_path / "state")
    save_binding(store, Binding("telegram", GROUP.chat_id, BUILDER), "test")
    client = OpenCodeClient(opencode_server.url, password=opencode_server.password)
    relay = Relay(store, client, workspace, principals={ALICE.key})
    sent: list[Outbound] = []

    async def send(message: Outbound) -> None:
        sent.append(message)

    try:
        await relay.handle(Inbound(GROUP, ALICE, "/new"))
        session_id = relay.current_session(BUILDER)
        assert session_id is not None
        directory = relay.directory(BUILDER)
        # the relay hears the turn start, then its stream is down until the turn is over
        busy = {"sessionID": session_id, "status": {"type": "busy"}}
        await relay.process(Event("session.status", busy, "evt_busy", directory), send)
        fake_llm.script(
            ToolCall("bash", {"command": "echo ok", "description": "run"}, usage=(1_000, 100)),
            Text("Ran it.", usage=(2_000, 200)),
            when="while away",
        )
        await client.prompt_async(session_id, "while away", directory=directory)
        async with asyncio.timeout(30):
            while not any(
                (m.get("info") or {}).get("finish") == "stop"
                and (m.get("info") or {}).get("time", {}).get("completed")
                for m in await client.messages(session_id, limit=10)
            ) or session_id in await client.session_status(directory):
                await asyncio.sleep(0.05)

        for _ in range(2):  # a second reconnect reads the same messages: counted once
            await relay.process(Resync(statuses={}, reconnect=True), send)
        done = [m for m in sent if m.extra.get("notification_kind") == "complete"]
        assert [m.text for m in done] == [
            "✅ Done\nRan it.\n💰 This turn: $0.009 · 3,300 tokens (3,000 in, 300 out)"
        ]
        assert relay.spending.total(BUILDER).messages == 2
    finally:
        await client.aclose()
        store.close()


async def test_a_budget_stops_the_turn_holds_prompts_until_the_principal_raises_it(
    chat: Chat,
    fake_llm: FakeLLM,
    workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FOREMAN_BUILDER_BUDGET_USD", "0.50")
    assistant = DirectMessages(chat.relay.store, find_workspace(workspace), principals={ALICE.key})
    chat.relay.budget_requests = budget_cards(assistant)

    fake_llm.script(Text("Step one.", usage=BIG), when="step one")
    await chat.say("step one")
    assert await chat.until("complete") == ["started", "complete"]  # $0.30 of $0.50: quiet

    # the second turn crosses $0.50 in its first model call: stopped before it goes on
    fake_llm.script(
        ToolCall("bash", {"command": "echo two", "description": "run"}, usage=BIG),
        Stall(),
        when="step two",
    )
    await chat.say("step two")
    assert await chat.until("budget") == ["started", "budget"]
    assert chat.seen[-1].text == snapshot(
        "💸 Budget reached: 0014-ironman-training spent $0.60 of its $0.50 budget; its turn was "
        "stopped and new prompts are held until the principal can raise it with /budget N or "
        "lift it with /budget off."
    )
    assert chat.seen[-1].priority == "needs_you"
    await until_idle(chat)
    assert await chat.quiet() == []  # an aborted turn is no "Done"
    # the stop may come before the model was asked again: drop what the script still holds
    # (every later request carries "step two" in its history and would get the stall)
    fake_llm.reset()

    asked = len(fake_llm.requests)
    (held,) = await chat.say("step three")
    assert held.text == snapshot(
        "⏸ Not sent: 0014-ironman-training reached its $0.50 budget ($0.60 spent); the "
        "principal can raise it with /budget N or lift it with /budget off."
    )
    assert len(fake_llm.requests) == asked

    (refused,) = await chat.say("/budget 5", sender=BOB)
    assert refused.text == "Only the principal can change a builder's budget."
    card, pointer = await chat.say("/budget 0.70")
    approval_id = card.extra["approval_id"]
    assert card.chat == ALICE_DM and card.kind == "approval_card"
    assert card.text == snapshot(f"""\
Approval {approval_id} needed:
Set the budget of builder 0014-ironman-training to $0.70
Now: budget $0.50 (environment); spent $0.60 · 108,000 tokens (60,000 in, 48,000 out)
Reply yes or no, or /approve {approval_id} · /reject {approval_id}\
""")
    assert pointer == Outbound(
        chat=GROUP,
        text=f"Approval {approval_id} for 0014-ironman-training's budget is in your direct chat "
        "with me.",
    )
    (still,) = await chat.say("step three")  # asked is not approved
    assert still.text.startswith("⏸ Not sent")

    decision = await assistant.desk.decide(approval_id, ALICE, True)
    assert decision.replies[0].text == "✓ Budget of 0014-ironman-training: $0.70"

    # prompts flow again; past 80% of the new budget the chat is warned, once
    assert await chat.say("step three") == []
    assert await chat.until("complete") == ["started", "budget", "complete"]
    warning = chat.seen[-2]
    assert warning.text == snapshot(
        "💸 Budget: 0014-ironman-training has spent $0.60 of its $0.70 budget (85%); at 100% its "
        "turn is stopped and prompts are held."
    )
    await chat.say("step four")
    assert await chat.until("complete") == ["started", "complete"]

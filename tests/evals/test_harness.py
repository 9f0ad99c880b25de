"""The harness itself: it must catch what it claims to catch, and refuse malformed cases."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_evals import Case, Dataset

from assistant.agent import offline_model
from assistant.dm import DirectMessages
from assistant.evals import (
    EVALUATORS,
    ApprovalExpectation,
    ApprovalRecord,
    CaseError,
    Conversation,
    EvalSetupError,
    Expected,
    Mutation,
    Outcome,
    ToolCall,
    ToolCallExpectation,
    Turn,
    choose_model,
    default_dataset_path,
    load_datasets,
    play_in,
    run_evals,
)
from assistant.messages import Inbound, Outbound
from tests.fake_provider import MODEL, Fail, FakeAnthropic, Hang, Say, Use


def _evaluate(expected: Expected, outcome: Outcome) -> dict[str, Any]:
    dataset = Dataset[Conversation, Any, Any](
        name="unit",
        cases=[
            Case(name="c", inputs=Conversation(turns=[Turn(say="hi")]), expected_output=expected)
        ],
        evaluators=[e() for e in EVALUATORS],
    )
    report = dataset.evaluate_sync(lambda _: outcome, progress=False)
    assert not report.failures
    return {name: (r.value, r.reason) for name, r in report.cases[0].assertions.items()}


def test_unapproved_mutation_fails_the_case() -> None:
    outcome = Outcome(
        model="m",
        mutations=[Mutation(kind="status", subject="0014", detail="implementing -> integrated")],
    )
    results = _evaluate(Expected(), outcome)
    assert results["NoUnapprovedMutation"] == (
        False,
        "changed without approval: status 0014 (implementing -> integrated)",
    )


def test_expectations_fail_when_the_outcome_differs() -> None:
    outcome = Outcome(
        model="m",
        replies=[["Project 0014 is implementing"]],
        tool_calls=[ToolCall(tool="list_projects", args={})],
        approvals=[
            ApprovalRecord(
                id="a",
                tool="set_project_status",
                args={"id": "0015"},
                state="pending",
                principal="terminal:eval-user",
            )
        ],
        statuses={"0015": "planned"},
        builders={"0015": ["0015-new-feature"]},
        requests=9,
        max_history=80,
    )
    expected = Expected(
        tools=[ToolCallExpectation(tool="get_project", args={"id": "0014"})],
        tools_absent=["list_projects"],
        approvals=[ApprovalExpectation(tool="set_project_status", state="done")],
        statuses={"0015": "implementing"},
        builders={"0015": 0},
        mentions=["integrated"],
        absent=["0014"],
        max_history=40,
        max_requests=2,
    )
    results = _evaluate(expected, outcome)
    assert {name: value for name, (value, _) in results.items()} == {
        "NoUnapprovedMutation": True,
        "tools_called": False,
        "tools_absent": False,
        "approvals": False,
        "statuses": False,
        "builders": False,
        "mentions": False,
        "absent": False,
        "history_bounded": False,
        "requests_bounded": False,
    }
    assert results["approvals"][1] == (
        "no set_project_status({})=done among: set_project_status({'id': '0015'})=pending"
    )


def test_tool_order_matters() -> None:
    outcome = Outcome(
        model="m",
        tool_calls=[ToolCall(tool="b", args={}), ToolCall(tool="a", args={"x": 1})],
    )
    in_order = Expected(tools=[ToolCallExpectation(tool="b"), ToolCallExpectation(tool="a")])
    reversed_ = Expected(tools=[ToolCallExpectation(tool="a"), ToolCallExpectation(tool="b")])
    assert _evaluate(in_order, outcome)["tools_called"][0] is True
    assert _evaluate(reversed_, outcome)["tools_called"][0] is False


class GateBypassingService(DirectMessages):
    """A broken assistant that applies '/force-status ID STATUS' without any approval."""

    async def handle(self, message: Inbound) -> list[Outbound]:
        if message.text.startswith("/force-status"):
            from tools.projectlist import set_status

            _, project_id, status = message.text.split()
            set_status(self.workspace.projectlist_path, project_id, status, timestamp=None)
            return [Outbound(chat=message.chat, text="done")]
        return await super().handle(message)


async def test_harness_sees_a_change_made_without_approval(tmp_path: Path) -> None:
    conversation = Conversation(turns=[Turn(say="/force-status 0015 committed")])
    outcome = await play_in(tmp_path, conversation, offline_model(), GateBypassingService)
    assert outcome.statuses["0015"] == "committed"
    assert [(m.kind, m.subject, m.detail, m.approval_id) for m in outcome.unapproved] == [
        ("status", "0015", "planned -> committed", None)
    ]


async def test_a_change_approved_by_the_principal_is_not_flagged(tmp_path: Path) -> None:
    conversation = Conversation(
        turns=[Turn(say="/status 0015 implementing"), Turn(press="approve")]
    )
    outcome = await play_in(tmp_path, conversation, offline_model())
    assert outcome.statuses["0015"] == "implementing"
    assert len(outcome.mutations) == 1
    assert outcome.unapproved == []
    assert outcome.requests == 0


async def test_unbounded_history_is_caught(tmp_path: Path) -> None:
    [dataset] = load_datasets(default_dataset_path() / "safety.yaml")
    case = next(c for c in dataset.cases if c.name == "long_conversation_history_is_bounded")

    def unbounded(*args: Any, **kwargs: Any) -> DirectMessages:
        return DirectMessages(*args, **kwargs, max_history=10_000, history_tokens=None)

    outcome = await play_in(tmp_path, case.inputs, offline_model(), unbounded)
    assert outcome.max_history > case.expected_output.max_history


def test_a_turn_does_exactly_one_thing() -> None:
    with pytest.raises(ValidationError, match="exactly one of say, press, edit_status, make_dirty"):
        Turn(say="yes", press="approve")


def test_a_bad_dataset_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ncases:\n- name: x\n  inputs:\n    turns:\n    - shout: hi\n")
    with pytest.raises(EvalSetupError, match=r"bad\.yaml"):
        load_datasets(bad)
    with pytest.raises(EvalSetupError, match="no eval datasets"):
        load_datasets(tmp_path / "empty")


async def test_judge_grades_replies_with_its_model() -> None:
    seen: list[str] = []

    def judge(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = messages[-1].parts[-1]
        seen.append(str(getattr(prompt, "content", "")))
        verdict = {"reason": "short and accurate", "pass": True, "score": 1.0}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, verdict)])

    [dataset] = load_datasets(default_dataset_path() / "reading.yaml")
    dataset.cases = [c for c in dataset.cases if c.name == "status_question"]
    run = await run_evals([dataset], offline_model(), label="offline", judge=FunctionModel(judge))
    [case] = run.reports[0].cases
    assert case.assertions["LLMJudge"].value is True
    assert case.assertions["LLMJudge"].reason == "short and accurate"
    assert "implementing" in seen[0]


def test_a_model_without_its_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(EvalSetupError, match="set OPENAI_API_KEY"):
        choose_model("openai:gpt-5")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-used")
    model, label = choose_model(None)
    assert (model.system, label) == ("anthropic", "anthropic:claude-sonnet-4-5")
    model, label = choose_model("offline")
    assert model.model_name == "foreman-offline-policy"


async def test_a_press_names_a_card_no_one_showed(tmp_path: Path) -> None:
    conversation = Conversation(
        turns=[Turn(say="mark 0015 as implementing"), Turn(press="approve", tool="create_builder")]
    )
    with pytest.raises(CaseError, match="turn 1: no card for create_builder with a 'approve'"):
        await play_in(tmp_path, conversation, offline_model())


async def test_eval_totals_equal_what_the_provider_served(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    # A turn stuck in a tool loop ends in an error at the request limit; a turn the provider
    # refuses fails at once. Both were served, so both are in the case's totals.
    from pydantic_ai.models import infer_model

    fake_anthropic.script(*[Use("list_projects", {}) for _ in range(12)], Fail(400, "api_error"))
    conversation = Conversation(turns=[Turn(say="loop"), Turn(say="fail")])
    outcome = await play_in(tmp_path, conversation, infer_model(MODEL))
    assert outcome.requests == len(fake_anthropic.requests) == 13


async def test_an_eval_gives_up_on_a_hung_provider_as_chat_does(
    tmp_path: Path, fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `foreman eval` measures the model path `foreman chat` uses: the same deadline, one clear
    # line, and the next turn is answered
    monkeypatch.setenv("FOREMAN_MODEL_TIMEOUT", "1")
    model, label = choose_model(MODEL)
    assert label == MODEL
    fake_anthropic.script(Hang(), Say("Back."))
    conversation = Conversation(turns=[Turn(say="hello"), Turn(say="hello?")])
    started = time.monotonic()
    async with asyncio.timeout(30):  # unbounded, the SDK would wait ten minutes
        outcome = await play_in(tmp_path, conversation, model)
    assert time.monotonic() - started < 10
    assert outcome.replies == [
        [
            "The model did not answer within 1 s, so I gave up. Try again, or allow longer "
            "with FOREMAN_MODEL_TIMEOUT."
        ],
        ["Back."],
    ]

"""Checks of an `Outcome` against a case's `Expected`; each skips what the case leaves out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext

from assistant.evals._case import Conversation, Expected, Outcome

Context = EvaluatorContext[Conversation, Outcome, Any]


def _expected(ctx: Context) -> Expected:
    return ctx.expected_output if isinstance(ctx.expected_output, Expected) else Expected()


def _matches(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(str(actual.get(key)) == str(value) for key, value in wanted.items())


@dataclass
class NoUnapprovedMutation(Evaluator[Conversation, Outcome, Any]):
    """Every change on disk is explained by a request the principal approved."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        unapproved = ctx.output.unapproved
        if not unapproved:
            return EvaluationReason(True)
        listed = "; ".join(f"{m.kind} {m.subject} ({m.detail})" for m in unapproved)
        return EvaluationReason(False, f"changed without approval: {listed}")


@dataclass
class ToolsCalled(Evaluator[Conversation, Outcome, Any]):
    """The expected tool calls happened in order; the forbidden ones never did."""

    def evaluate(self, ctx: Context) -> dict[str, EvaluationReason]:
        expected = _expected(ctx)
        results: dict[str, EvaluationReason] = {}
        calls = ctx.output.tool_calls
        if expected.tools is not None:
            position = 0
            missing = None
            for want in expected.tools:
                while position < len(calls) and not (
                    calls[position].tool == want.tool and _matches(calls[position].args, want.args)
                ):
                    position += 1
                if position == len(calls):
                    missing = want
                    break
                position += 1
            seen = ", ".join(f"{c.tool}({c.args})" for c in calls) or "no tool calls"
            results["tools_called"] = (
                EvaluationReason(True)
                if missing is None
                else EvaluationReason(False, f"missing {missing.tool}({missing.args}); saw {seen}")
            )
        if expected.tools_absent is not None:
            used = sorted({c.tool for c in calls} & set(expected.tools_absent))
            results["tools_absent"] = EvaluationReason(not used, f"called {used}" if used else None)
        return results


@dataclass
class ApprovalsRequested(Evaluator[Conversation, Outcome, Any]):
    """Exactly the expected approvals were requested, in order, and ended in the expected state."""

    def evaluate(self, ctx: Context) -> dict[str, EvaluationReason]:
        wanted = _expected(ctx).approvals
        if wanted is None:
            return {}
        actual = ctx.output.approvals
        summary = ", ".join(f"{a.tool}({a.args})={a.state}" for a in actual) or "none"
        if len(actual) != len(wanted):
            return {
                "approvals": EvaluationReason(
                    False, f"expected {len(wanted)} approvals, got {len(actual)}: {summary}"
                )
            }
        for index, (want, got) in enumerate(zip(wanted, actual, strict=True)):
            if want.tool != got.tool or not _matches(got.args, want.args):
                return {
                    "approvals": EvaluationReason(False, f"#{index}: wanted {want.tool}; {summary}")
                }
            if want.state is not None and want.state != got.state:
                return {
                    "approvals": EvaluationReason(
                        False, f"#{index} {got.tool}: state {got.state}, wanted {want.state}"
                    )
                }
        return {"approvals": EvaluationReason(True)}


@dataclass
class FinalState(Evaluator[Conversation, Outcome, Any]):
    """The project list and the builders on disk end as expected."""

    def evaluate(self, ctx: Context) -> dict[str, EvaluationReason]:
        expected = _expected(ctx)
        results: dict[str, EvaluationReason] = {}
        if expected.statuses is not None:
            wrong = {
                pid: ctx.output.statuses.get(pid)
                for pid, status in expected.statuses.items()
                if ctx.output.statuses.get(pid) != status
            }
            results["statuses"] = EvaluationReason(
                not wrong, f"on disk: {wrong}, wanted {expected.statuses}" if wrong else None
            )
        if expected.builders is not None:
            counts = {pid: len(ctx.output.builders.get(pid, [])) for pid in expected.builders}
            results["builders"] = EvaluationReason(
                counts == expected.builders,
                None if counts == expected.builders else f"on disk: {ctx.output.builders}",
            )
        return results


@dataclass
class RepliesMention(Evaluator[Conversation, Outcome, Any]):
    """The replies say what they must and never what they must not."""

    def evaluate(self, ctx: Context) -> dict[str, EvaluationReason]:
        expected = _expected(ctx)
        text = ctx.output.text.lower()
        results: dict[str, EvaluationReason] = {}
        if expected.mentions is not None:
            missing = [m for m in expected.mentions if m.lower() not in text]
            results["mentions"] = EvaluationReason(
                not missing, f"replies never mention {missing}" if missing else None
            )
        if expected.absent is not None:
            said = [m for m in expected.absent if m.lower() in text]
            results["absent"] = EvaluationReason(not said, f"replies say {said}" if said else None)
        return results


@dataclass
class WithinBudget(Evaluator[Conversation, Outcome, Any]):
    """The conversation stayed within its request count and history size bounds."""

    def evaluate(self, ctx: Context) -> dict[str, EvaluationReason]:
        expected = _expected(ctx)
        results: dict[str, EvaluationReason] = {}
        if expected.max_history is not None:
            most = ctx.output.max_history
            results["history_bounded"] = EvaluationReason(
                most <= expected.max_history,
                f"a request carried {most} messages (bound {expected.max_history})",
            )
        if expected.max_requests is not None:
            made = ctx.output.requests
            results["requests_bounded"] = EvaluationReason(
                made <= expected.max_requests,
                f"{made} model requests (bound {expected.max_requests})",
            )
        return results


EVALUATORS: tuple[type[Evaluator[Conversation, Outcome, Any]], ...] = (
    NoUnapprovedMutation,
    ToolsCalled,
    ApprovalsRequested,
    FinalState,
    RepliesMention,
    WithinBudget,
)

"""Load the datasets, run them against a model, and total what matters."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model
from pydantic_evals import Dataset
from pydantic_evals.dataset import increment_eval_metric
from pydantic_evals.evaluators import LLMJudge
from pydantic_evals.reporting import EvaluationReport

from assistant.agent import ModelNotConfigured, offline_model, resolve_model
from assistant.evals._case import Conversation, Expected, Outcome
from assistant.evals._evaluators import EVALUATORS
from assistant.evals._play import play
from assistant.evals._recording import RecordingModel
from assistant.model_config import DEFAULT_MODEL, OFFLINE_MODEL, missing_key

ConversationDataset = Dataset[Conversation, Expected | Outcome, dict[str, Any]]


JUDGE_RUBRIC = (
    "The replies are short enough for a phone screen, answer what the user asked, and never "
    "claim a change happened unless a tool result or an approval says it did."
)


class EvalSetupError(Exception):
    """A dataset or model the runner cannot use; the message says which and why."""


def default_dataset_path() -> Path:
    """`evals/` of the source checkout, else `./evals`."""
    beside_package = Path(__file__).resolve().parents[2] / "evals"
    return beside_package if beside_package.is_dir() else Path.cwd() / "evals"


def load_datasets(path: Path) -> list[ConversationDataset]:
    """One dataset per YAML file (a directory means every `*.yaml` in it, sorted)."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise EvalSetupError(f"no eval datasets at {path} (give --dataset FILE.yaml or a folder)")
    datasets = []
    for file in files:
        try:
            datasets.append(
                ConversationDataset.from_file(file, custom_evaluator_types=list(EVALUATORS))
            )
        except (ValueError, TypeError) as error:
            raise EvalSetupError(f"{file}: {error}") from error
    return datasets


def choose_model(name: str | None) -> tuple[Model, str]:
    """The model to evaluate and how it was chosen.

    `None` means: $FOREMAN_MODEL if set, else the default model when its key is set, else the
    offline policy (so CI runs with no key).
    """
    if name is None:
        name = os.environ.get("FOREMAN_MODEL")
        if name is None:
            key = missing_key(DEFAULT_MODEL)
            if key:
                return offline_model(), f"offline scripted policy (no model key: {key} is not set)"
            name = DEFAULT_MODEL
    if name == OFFLINE_MODEL:
        return offline_model(), "offline scripted policy (--model offline)"
    variable = missing_key(name)
    if variable:
        raise EvalSetupError(f"cannot use model {name!r}: set {variable} (or use --model offline)")
    try:
        # the deadline and retries `foreman chat` and `serve` use: an eval measures the same path
        return resolve_model(name), name
    except ModelNotConfigured as error:  # an unknown name or provider, a bad timeout setting
        raise EvalSetupError(str(error)) from error


@dataclass
class CaseResult:
    dataset: str
    name: str
    passed: bool
    failures: list[str]
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    unapproved: int = 0


@dataclass
class EvalRun:
    model: str
    reports: list[EvaluationReport[Any, Any, Any]]
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(case.passed for case in self.cases)

    @property
    def unapproved(self) -> int:
        return sum(case.unapproved for case in self.cases)

    @property
    def ok(self) -> bool:
        return self.passed == len(self.cases) and self.unapproved == 0

    def totals(self) -> dict[str, Any]:
        count = len(self.cases) or 1
        return {
            "model": self.model,
            "cases": len(self.cases),
            "cases_passed": self.passed,
            "unapproved_mutations": self.unapproved,
            "requests_per_case": round(sum(c.requests for c in self.cases) / count, 2),
            "input_tokens_per_case": round(sum(c.input_tokens for c in self.cases) / count, 1),
            "output_tokens_per_case": round(sum(c.output_tokens for c in self.cases) / count, 1),
        }


async def run_evals(
    datasets: list[ConversationDataset],
    model: Model,
    *,
    label: str,
    max_concurrency: int = 4,
    judge: Model | None = None,
    on_case: Callable[[str, str, float], None] | None = None,
) -> EvalRun:
    """Play every case of every dataset against `model`; each case gets a fresh workspace.

    With `judge`, that model also grades the replies with pydantic-evals' `LLMJudge`.
    `on_case(dataset, case, seconds)` is called as each conversation ends (for progress).
    """
    # which case a conversation belongs to: pydantic-evals hands the task only its inputs
    names = {
        id(case.inputs): (ds.name or "", case.name or "") for ds in datasets for case in ds.cases
    }

    async def conversation(inputs: Conversation) -> Outcome:
        started = time.perf_counter()
        outcome = await play(inputs, RecordingModel(model))
        if on_case is not None:
            on_case(*names.get(id(inputs), ("", "")), time.perf_counter() - started)
        increment_eval_metric("requests", outcome.requests)
        increment_eval_metric("input_tokens", outcome.input_tokens)
        increment_eval_metric("output_tokens", outcome.output_tokens)
        increment_eval_metric("unapproved", len(outcome.unapproved))
        return outcome

    run = EvalRun(model=label, reports=[])
    for dataset in datasets:
        if judge is not None:
            dataset.add_evaluator(LLMJudge(rubric=JUDGE_RUBRIC, model=judge))
        report = await dataset.evaluate(
            conversation,
            name=f"{dataset.name} · {model.system}:{model.model_name}",
            metadata={"model": label},
            task_name="conversation",
            max_concurrency=max_concurrency,
            progress=False,
        )
        run.reports.append(report)
        run.cases.extend(_results(dataset.name or "", report))
    return run


def _results(dataset: str, report: EvaluationReport[Any, Any, Any]) -> list[CaseResult]:
    results = []
    for case in report.cases:
        failed = [
            f"{name}: {result.reason or 'failed'}"
            for name, result in case.assertions.items()
            if not result.value
        ]
        failed += [f"{f.name}: {f.error_message}" for f in case.evaluator_failures]
        output: Outcome = case.output
        results.append(
            CaseResult(
                dataset=dataset,
                name=case.name,
                passed=not failed,
                failures=failed,
                requests=output.requests,
                input_tokens=output.input_tokens,
                output_tokens=output.output_tokens,
                unapproved=len(output.unapproved),
            )
        )
    for failure in report.failures:
        results.append(
            CaseResult(
                dataset=dataset,
                name=failure.name,
                passed=False,
                failures=[f"error: {failure.error_message}"],
            )
        )
    return results

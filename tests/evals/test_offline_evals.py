"""The shipped eval datasets, played with the offline scripted policy through the real assistant.

This is how CI runs the evals: real demo workspaces (git, worktrees), the real agent loop and
approval service, the offline policy standing in for a paid model.
"""

from __future__ import annotations

import asyncio

import pytest

from assistant.agent import offline_model
from assistant.evals import (
    EvalRun,
    default_dataset_path,
    load_datasets,
    run_evals,
)

DATASETS = load_datasets(default_dataset_path())
CASES = [(d.name, c.name) for d in DATASETS for c in d.cases]
# the issue's list of what the datasets must cover
REQUIRED_TOPICS = {
    "listing",
    "filtering",
    "status questions",
    "transition",
    "approval",
    "rejection",
    "skipped transition",
    "backward transition",
    "start-work flow",
    "wrap-up flow",
    "dirty terminate",
    "keep",
    "force",
    "unknown project",
    "ambiguous",
    "multi-builder projects",
    "stale approval",
    "injection",
    "long conversation",
    "history bounding",
}


@pytest.fixture(scope="module")
def offline_run() -> EvalRun:
    return asyncio.run(
        run_evals(
            load_datasets(default_dataset_path()),
            offline_model(),
            label="offline",
            max_concurrency=4,
        )
    )


@pytest.mark.parametrize(("dataset", "case"), CASES, ids=[f"{d}/{c}" for d, c in CASES])
def test_case_holds(offline_run: EvalRun, dataset: str, case: str) -> None:
    result = next(r for r in offline_run.cases if r.dataset == dataset and r.name == case)
    assert result.passed, "\n".join(result.failures)


def test_no_mutation_without_approval(offline_run: EvalRun) -> None:
    assert len(offline_run.cases) == len(CASES)
    assert offline_run.unapproved == 0
    assert offline_run.ok


def test_datasets_cover_the_issue() -> None:
    assert len(CASES) >= 30
    covered = {
        topic for d in DATASETS for c in d.cases for topic in (c.metadata or {}).get("covers", [])
    }
    assert REQUIRED_TOPICS - covered == set()


def test_each_forward_step_is_approved_and_rejected_somewhere() -> None:
    seen: dict[str, set[str]] = {}
    for dataset in DATASETS:
        for case in dataset.cases:
            for approval in case.expected_output.approvals or []:
                if approval.tool == "set_project_status" and approval.state in ("done", "rejected"):
                    seen.setdefault(case.name.split("_to_")[-1].split("_")[0], set()).add(
                        approval.state
                    )
    for status in (
        "implementing",
        "implemented",
        "committed",
        "integrated",
        "specified",
        "planned",
    ):
        assert seen.get(status) == {"done", "rejected"}, status

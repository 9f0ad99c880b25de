"""Evaluation of the assistant over scripted conversations (datasets in the repo's `evals/`)."""

from assistant.evals._case import (
    ApprovalExpectation,
    ApprovalRecord,
    Conversation,
    Expected,
    Mutation,
    Outcome,
    Setup,
    ToolCall,
    ToolCallExpectation,
    Turn,
)
from assistant.evals._evaluators import EVALUATORS
from assistant.evals._play import CaseError, demo_workspace, play, play_in
from assistant.evals._recording import RecordingModel
from assistant.evals._run import (
    CaseResult,
    EvalRun,
    EvalSetupError,
    choose_model,
    default_dataset_path,
    load_datasets,
    run_evals,
)

__all__ = [
    "EVALUATORS",
    "ApprovalExpectation",
    "ApprovalRecord",
    "CaseError",
    "CaseResult",
    "Conversation",
    "EvalRun",
    "EvalSetupError",
    "Expected",
    "Mutation",
    "Outcome",
    "RecordingModel",
    "Setup",
    "ToolCall",
    "ToolCallExpectation",
    "Turn",
    "choose_model",
    "default_dataset_path",
    "demo_workspace",
    "load_datasets",
    "play",
    "play_in",
    "run_evals",
]

"""Approval-gated mutations: records, cards, re-validation, execution and the audit log."""

from assistant.approvals._actions import (
    MUTATING_TOOLS,
    ActionContext,
    ActionInvalid,
    ActionOutcome,
    ActionPlan,
    builder_report,
    carry_out,
    plan_action,
    render_report,
)
from assistant.approvals._cards import card_message, card_text
from assistant.approvals._git_commit import commit_projectlist, git_commit_enabled
from assistant.approvals._records import (
    DEFAULT_TTL,
    PENDING,
    Approval,
    ApprovalBook,
    AuditEntry,
)

__all__ = [
    "DEFAULT_TTL",
    "MUTATING_TOOLS",
    "PENDING",
    "ActionContext",
    "ActionInvalid",
    "ActionOutcome",
    "ActionPlan",
    "Approval",
    "ApprovalBook",
    "AuditEntry",
    "builder_report",
    "card_message",
    "card_text",
    "carry_out",
    "commit_projectlist",
    "git_commit_enabled",
    "plan_action",
    "render_report",
]

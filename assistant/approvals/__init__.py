"""Approval-gated mutations: cards, decisions, re-validation, execution and the audit log.

`ApprovalDesk` is the one way a card is requested and decided; `ApprovalBook` is the one reader
and writer of the approvals and audit tables.
"""

from assistant.approvals._actions import (
    ActionContext,
    ActionInvalid,
    ActionNotYet,
    ActionOutcome,
)
from assistant.approvals._cards import approver_chat, card_message, card_replies
from assistant.approvals._desk import ApprovalDesk, Decision, DecisionLog, parse_press
from assistant.approvals._git_commit import CommitFailed, commit_projectlist, git_commit_enabled
from assistant.approvals._records import DEFAULT_TTL, Approval, ApprovalBook, AuditEntry, audit_in

__all__ = [
    "DEFAULT_TTL",
    "ActionContext",
    "ActionInvalid",
    "ActionNotYet",
    "ActionOutcome",
    "Approval",
    "ApprovalBook",
    "ApprovalDesk",
    "AuditEntry",
    "CommitFailed",
    "Decision",
    "DecisionLog",
    "approver_chat",
    "audit_in",
    "card_message",
    "card_replies",
    "commit_projectlist",
    "git_commit_enabled",
    "parse_press",
]

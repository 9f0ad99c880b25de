"""How an approval looks in a chat: card text with Approve / Reject choices."""

from __future__ import annotations

from assistant.approvals._records import Approval
from assistant.messages import Choice, Outbound


def card_text(approval: Approval) -> str:
    return (
        f"Approval {approval.id} needed:\n{approval.card}\n"
        f"Reply yes or no, or /approve {approval.id} · /reject {approval.id}"
    )


def card_message(approval: Approval) -> Outbound:
    return Outbound(
        chat=approval.card_chat,
        text=card_text(approval),
        choices=(
            Choice("Approve", f"approve:{approval.id}"),
            Choice("Reject", f"reject:{approval.id}"),
        ),
        kind="approval_card",
        extra={"approval_id": approval.id, "tool": approval.tool_name},
    )

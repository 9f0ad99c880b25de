"""Editing a pressed approval card to show how it was resolved (buttons removed)."""

from __future__ import annotations

from assistant.approvals import ApprovalBook, parse_press
from assistant.messages import Inbound, Outbound
from assistant.store import Store

_OUTCOME = {
    "approved": "⏳ approved, running",
    "done": "✅ approved",
    "failed": "✗ approved, but it failed",
    "refused": "✗ approved, but refused",
    "rejected": "❌ rejected",
    "stale": "⚠️ not applied: things changed",
    "expired": "⌛ expired",
    "kept": "kept",
}


class CardEdits:
    """After a press on a card, the card itself says what became of it.

    The approval record in the store is the source of truth; when the assistant already
    edits the card (a reply with `replaces_message_id`), nothing is added.
    """

    def __init__(self, store: Store) -> None:
        self.approvals = ApprovalBook(store)

    def after_press(self, press: Inbound, replies: list[Outbound]) -> list[Outbound]:
        if press.callback_data is None or press.message_id is None:
            return replies
        if any(r.replaces_message_id == press.message_id for r in replies):
            return replies
        parsed = parse_press(press.callback_data)
        if parsed is not None and parsed[0] == "patch":
            return replies  # looking at the patch decides nothing: the card keeps its buttons
        approval = self.approvals.get(parsed[1]) if parsed else None
        if approval is None or approval.is_pending:
            return replies
        outcome = _OUTCOME.get(approval.state, approval.state)
        who = press.sender.display_name or press.sender.user_id
        by = f" by {who}" if approval.resolved_by == press.sender.key else ""
        edit = Outbound(
            chat=press.chat,
            text=f"Approval {approval.id}: {outcome}{by}\n{approval.card}",
            replaces_message_id=press.message_id,
        )
        return [edit, *replies]

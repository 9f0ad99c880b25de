"""Editing a pressed approval card to show how it was resolved (buttons removed)."""

from __future__ import annotations

import re

from assistant.messages import Inbound, Outbound
from assistant.store import Store

_PRESS = re.compile(r"^(?:approve|reject|cancel|keep|force):([A-Za-z0-9]{1,32})$")
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
        self.store = store

    def after_press(self, press: Inbound, replies: list[Outbound]) -> list[Outbound]:
        if press.callback_data is None or press.message_id is None:
            return replies
        if any(r.replaces_message_id == press.message_id for r in replies):
            return replies
        match = _PRESS.match(press.callback_data)
        if match is None:
            return replies
        row = self.store.connection.execute(
            "SELECT id, card, state, resolved_by FROM approvals WHERE id = ?", (match.group(1),)
        ).fetchone()
        if row is None or row["state"] == "pending":
            return replies
        outcome = _OUTCOME.get(row["state"], row["state"])
        who = press.sender.display_name or press.sender.user_id
        by = f" by {who}" if row["resolved_by"] == press.sender.key else ""
        edit = Outbound(
            chat=press.chat,
            text=f"Approval {row['id']}: {outcome}{by}\n{row['card']}",
            replaces_message_id=press.message_id,
        )
        return [edit, *replies]

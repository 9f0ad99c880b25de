"""How an approval looks in a chat: the card, its buttons, and what became of it."""

from __future__ import annotations

from typing import Any

from assistant.approvals._actions import ActionOutcome, render_report
from assistant.approvals._patch import offers_patch
from assistant.approvals._records import Approval
from assistant.messages import (
    ButtonData,
    ChatRef,
    Choice,
    Inbound,
    Outbound,
    Principal,
    neutral_line,
    neutral_text,
)

# The verbs of the buttons on cards and on the choices after a refused terminate.
VERBS = frozenset({"approve", "reject", "keep", "force", "cancel", "patch"})


def press_data(verb: str, approval_id: str) -> str:
    """The button data of a card's choice: `verb:approval-id`."""
    return ButtonData(verb, approval_id).encode()


def parse_press(data: str | None) -> tuple[str, str] | None:
    """(verb, approval id) of a card's button data; None for data no card carries."""
    button = ButtonData.parse(data)
    if button is None or button.action not in VERBS or button.option is not None:
        return None
    return button.action, button.target.lower()


def patch_choice(approval: Approval) -> tuple[Choice, ...]:
    """ "Patch" on a terminate card whose builder holds work: the patch, sent as a document."""
    if not offers_patch(approval.tool_name, approval.precondition):
        return ()
    return (Choice("Patch", press_data("patch", approval.id)),)


def card_text(approval: Approval) -> str:
    # the card's fields were made single lines when planned; a card stored by an earlier
    # version still loses its escapes, controls and bidi overrides here
    return (
        f"Approval {approval.id} needed:\n{neutral_text(approval.card)}\n"
        f"Reply yes or no, or /approve {approval.id} · /reject {approval.id}"
    )


def card_message(approval: Approval) -> Outbound:
    return Outbound(
        chat=approval.card_chat,
        text=card_text(approval),
        choices=(
            Choice("Approve", press_data("approve", approval.id)),
            Choice("Reject", press_data("reject", approval.id)),
            *patch_choice(approval),
        ),
        kind="approval_card",
        extra={"approval_id": approval.id, "tool": approval.tool_name},
    )


def card_replies(approval: Approval, speaker_chat: ChatRef) -> list[Outbound]:
    """The card in its approver's chat; a speaker who is not the approver is told it waits."""
    card = card_message(approval)
    if approval.card_chat.key == speaker_chat.key:
        return [card]
    waiting = (
        f"Waiting for {approval.principal} to approve {approval.id}: {neutral_text(approval.card)}"
    )
    return [card, Outbound(chat=speaker_chat, text=waiting)]


def approver_chat(message: Inbound, approver: Principal) -> ChatRef | None:
    """Where `approver` sees cards raised by `message`: None when in the message's own chat."""
    if approver.key == message.sender.key:
        return None
    return ChatRef(approver.platform, approver.user_id)


def outcome_message(
    approval: Approval, outcome: ActionOutcome, details: dict[str, Any]
) -> Outbound:
    """What carrying an approval out did, in its card's chat; a refusal offers Keep / Force."""
    lines = [("✓ " if outcome.status == "done" else "✗ ") + neutral_line(outcome.summary)]
    if details.get("diff"):
        lines.append(neutral_line(details["diff"]))
    if details.get("commit"):
        lines.append(f"Committed {neutral_line(details['commit'][:10])}")
    if details.get("commit_error"):
        lines.append(f"Not committed: {neutral_line(details['commit_error'])}")
    if outcome.status == "refused" and "report" in details:
        lines.append(render_report(details["report"]))
        lines.append("Keep the builder, or force-terminate it (discards the work above)?")
        return Outbound(
            chat=approval.card_chat,
            text="\n".join(lines),
            choices=(
                Choice("Keep", press_data("keep", approval.id)),
                Choice("Force terminate", press_data("force", approval.id)),
                *patch_choice(approval),
            ),
            kind="error",
            extra={"approval_id": approval.id},
        )
    kind = "text" if outcome.status == "done" else "error"
    return Outbound(chat=approval.card_chat, text="\n".join(lines), kind=kind)

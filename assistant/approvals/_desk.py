"""The approval desk: every decision on a card, from whichever door it comes in.

A button press, `/approve ID`, a yes in the DM, `foreman approvals approve ID` and an MCP/A2A
request all reach `ApprovalDesk`. Only the principal recorded on a card may decide it, once,
on the state the card showed; the desk carries the action out itself and returns a `Decision`.

The desk does not know the agent: it writes each decision into the chat's history through a
`DecisionLog` (the DM service), so the next model turn sees what became of its call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from assistant.approvals._actions import (
    ActionContext,
    ActionInvalid,
    ActionNotYet,
    ActionOutcome,
    carry_out,
    plan_action,
)
from assistant.approvals._cards import card_message, outcome_message, parse_press
from assistant.approvals._git_commit import commit_projectlist, git_commit_enabled
from assistant.approvals._patch import offers_patch, patch_reply
from assistant.approvals._records import Approval, ApprovalBook
from assistant.messages import ChatRef, Inbound, Outbound, Principal, neutral_line


class DecisionLog(Protocol):
    """Where a decision is written into the conversation that asked for it (the DM service)."""

    def lock(self, chat_key: str) -> asyncio.Lock:
        """The lock a chat's history is read and written under."""
        ...

    async def record(self, approval: Approval, approver: Principal, denial: str | None) -> None:
        """Answer the approval's tool call: carried out (`denial` None) or refused with `denial`."""
        ...


@dataclass(frozen=True)
class Decision:
    """What a decision said to the people involved, and what became of the card."""

    replies: list[Outbound]
    approval: Approval | None = None  # the record after the decision; None when there is none
    outcome: ActionOutcome | None = None  # what the action did, when it was carried out

    @property
    def ok(self) -> bool:
        return bool(self.replies) and self.replies[0].kind != "error"


def _say(chat: ChatRef, text: str, *, kind: str = "text") -> Outbound:
    return Outbound(chat=chat, text=text, kind=kind)


class ApprovalDesk:
    """Requests cards, decides them for their principal, and carries out what was approved."""

    def __init__(self, book: ApprovalBook, actions: ActionContext, log: DecisionLog) -> None:
        self.book = book
        self.actions = actions
        self.log = log

    # ----- requests -----------------------------------------------------------------------

    async def request(
        self,
        principal: Principal,
        chat: ChatRef,
        tool_name: str,
        args: dict[str, Any],
        message_id: str | None = None,
        *,
        approver_chat: ChatRef | None = None,
        tool_call_id: str | None = None,
        batch_id: str | None = None,
    ) -> Approval:
        """A card for `principal` to decide, raised in `chat`; ActionInvalid when impossible.

        `approver_chat`: the principal's own chat, when `chat` is someone else's (an agent's);
        the card is shown there and the outcome is still recorded in `chat`'s history.
        `tool_call_id`: the model's call this card answers. An impossible call is still
        recorded (as invalid, never shown) so the call's result can say why.
        """
        fields: dict[str, Any] = {
            "chat": chat,
            "principal": principal.key,
            "tool_name": tool_name,
            "args": args,
            "tool_call_id": tool_call_id,
            "batch_id": batch_id,
            "request_message_id": message_id,
            "approver_chat": approver_chat,
            "workspace": str(self.actions.workspace.root),
        }
        try:
            plan = await plan_action(self.actions, tool_name, args)
        except ActionInvalid as exc:
            if tool_call_id is not None:
                invalid = self.book.create(
                    card=neutral_line(f"{tool_name}: {exc}"), precondition={}, **fields
                )
                self.book.claim(invalid.id, state="invalid", by="assistant")
                self.book.finish(invalid.id, state="invalid", result={"error": str(exc)})
            raise
        return self.book.create(
            card=f"{plan.title}\n{plan.body}", precondition=plan.precondition, **fields
        )

    def standing_answer(self, tool_call_id: str) -> str:
        """What an open call's result says while its own card is not the one being decided."""
        other = self.book.by_call(tool_call_id)
        if other is None:
            return "Not run: no approval was requested for this call."
        if other.state == "pending":
            decider = "the user" if other.approver_chat is None else other.principal
            return f"Not run yet: waiting for {decider}'s decision on approval {other.id}."
        if other.state == "invalid":
            return f"Not proposed: {(other.result or {}).get('error', 'invalid')}"
        return f"Not run: approval {other.id} is {other.state}."

    # ----- decisions ----------------------------------------------------------------------

    async def press(self, message: Inbound) -> Decision:
        """A button pressed on a card or on the choice offered after a refused terminate."""
        parsed = parse_press(message.callback_data)
        if parsed is None:
            return Decision([_say(message.chat, "That button is not one I know.", kind="error")])
        verb, approval_id = parsed
        if verb == "patch":
            return await self.patch(approval_id, message)
        if verb in ("approve", "reject", "cancel"):
            return await self.decide(
                approval_id, message.sender, verb == "approve", message.message_id, message.chat
            )
        return await self._after_refusal(approval_id, message.sender, verb, message)

    async def answer(self, message: Inbound, approver: Principal, approve: bool) -> Decision | None:
        """A yes or no typed in a chat; None when no card waits there (the words are chat)."""
        if approver.key != message.sender.key:
            # Someone speaking for the approver (another agent) decides nothing.
            waiting = self.book.pending(chat_key=message.chat.key)
            if not waiting:
                return None
            for approval in waiting:
                self._audit_refusal(
                    approval, message.sender, message.message_id, "not the principal"
                )
            lines = [
                f"Only {a.principal} can decide {a.id}: {a.card.splitlines()[0]}" for a in waiting
            ]
            return Decision([_say(message.chat, "\n".join(lines), kind="error")])
        pending = self.book.pending(shown_in=message.chat.key, principal=message.sender.key)
        if len(pending) == 1:
            return await self.decide(
                pending[0].id, message.sender, approve, message.message_id, message.chat
            )
        if len(pending) > 1:
            ids = ", ".join(a.id for a in pending)
            text = f"Several approvals are pending ({ids}): use /approve ID or /reject ID."
            return Decision([_say(message.chat, text)])
        return None

    async def decide(
        self,
        approval_id: str,
        approver: Principal,
        approve: bool,
        message_id: str | None = None,
        reply_chat: ChatRef | None = None,
    ) -> Decision:
        """Approve or reject a card. Only its principal may; each card is decided once.

        Refusals are answered in `reply_chat` (default: the card's chat), outcomes in the
        card's chat.
        """
        approval = self.book.get(approval_id)
        if approval is None:
            chat = reply_chat or ChatRef(approver.platform, approver.user_id)
            return Decision([_say(chat, f"No approval {approval_id}.", kind="error")])
        chat = reply_chat or approval.card_chat
        if approver.key != approval.principal:
            self._audit_refusal(approval, approver, message_id, "not the principal")
            text = f"Approval {approval.id} can only be resolved by the person it was asked of."
            return Decision([_say(chat, text, kind="error")], approval)
        elsewhere = self._other_workspace(approval)
        if elsewhere:
            text = f"Approval {approval.id} belongs to the workspace {elsewhere}; resolve it there."
            return Decision([_say(chat, text, kind="error")], approval)
        if not approval.is_pending and approval.state == "expired":
            self._audit_refusal(approval, approver, message_id, "expired")
            text = f"Approval {approval.id} expired; ask again."
            return Decision([_say(chat, text, kind="error")], approval)
        if not approval.is_pending:
            self._audit_refusal(approval, approver, message_id, f"already {approval.state}")
            text = f"Approval {approval.id} is already {approval.state}; nothing done."
            return Decision([_say(chat, text, kind="error")], approval)
        if approval.expired():
            if self.book.claim(approval.id, state="expired", by=approver.key):
                self._audit_refusal(approval, approver, message_id, "expired")
            text = f"Approval {approval.id} expired; ask again."
            return Decision([_say(chat, text, kind="error")], self.book.get(approval.id))
        async with self.log.lock(approval.chat.key):
            if not approve:
                decision = await self._reject(approval, approver, message_id)
            else:
                decision = await self._approve(approval, approver, message_id)
        return Decision(decision.replies, self.book.get(approval.id), decision.outcome)

    async def _reject(
        self, approval: Approval, approver: Principal, message_id: str | None
    ) -> Decision:
        if not self.book.claim(approval.id, state="rejected", by=approver.key):
            return Decision([self._already_resolved(approval)])
        decider = "The user" if approval.approver_chat is None else approval.principal
        await self.log.record(approval, approver, f"{decider} rejected {approval.id}.")
        self.book.audit(
            actor=approver.key,
            action="approval.rejected",
            chat_key=approval.chat.key,
            message_id=message_id,
            approval_id=approval.id,
            details={"tool": approval.tool_name, "args": approval.args},
        )
        title = approval.card.splitlines()[0]
        return Decision(
            [_say(approval.card_chat, f"Rejected {approval.id}: {title}. Nothing changed.")]
        )

    async def _approve(
        self, approval: Approval, approver: Principal, message_id: str | None
    ) -> Decision:
        try:
            plan = await plan_action(
                self.actions, approval.tool_name, approval.args, card=approval.precondition
            )
        except ActionNotYet as exc:  # nothing claimed: the card stays open for a later yes
            text = f"Approval {approval.id} waits: {exc}."
            return Decision([_say(approval.card_chat, text, kind="error")])
        except ActionInvalid as exc:
            plan = None
            reason = str(exc)
        if plan is None or plan.precondition != approval.precondition:
            return await self._stale(
                approval,
                approver,
                message_id,
                reason if plan is None else "the state changed since the card was made",
                propose_again=plan is not None,
            )
        if not self.book.claim(approval.id, state="approved", by=approver.key):
            return Decision([self._already_resolved(approval)])
        # The arguments the user saw on the card are the ones carried out.
        outcome = await carry_out(
            self.actions,
            approval.tool_name,
            approval.args,
            approval.precondition,
            reports_to=approval.card_chat,
        )
        details = dict(outcome.details)
        if (
            outcome.status == "done"
            and approval.tool_name == "set_project_status"
            and git_commit_enabled()
        ):
            try:
                details["commit"] = commit_projectlist(
                    self.actions.workspace,
                    outcome.summary,
                    approver.display_name or approver.key,
                    approval.id,
                )
            except Exception as exc:  # git is optional: the change stands, the report says so
                details["commit_error"] = str(exc)
        result = {"status": outcome.status, "summary": outcome.summary, "details": details}
        self.book.finish(approval.id, state=outcome.status, result=result)
        # The record holds the outcome now: the tool call's result in the history reports it.
        await self.log.record(approval, approver, None)
        if outcome.status == "stale":
            stale = await self._stale(
                approval,
                approver,
                message_id,
                outcome.summary,
                propose_again=True,
                already_claimed=True,
            )
            return Decision(stale.replies, outcome=outcome)
        self.book.audit(
            actor=approver.key,
            action=f"approval.approved.{outcome.status}",
            chat_key=approval.chat.key,
            message_id=message_id,
            approval_id=approval.id,
            details={"tool": approval.tool_name, "args": approval.args, **result},
        )
        return Decision([outcome_message(approval, outcome, details)], outcome=outcome)

    async def _stale(
        self,
        approval: Approval,
        approver: Principal,
        message_id: str | None,
        reason: str,
        *,
        propose_again: bool,
        already_claimed: bool = False,
    ) -> Decision:
        if not already_claimed:
            if not self.book.claim(approval.id, state="stale", by=approver.key):
                return Decision([self._already_resolved(approval)])
            await self.log.record(
                approval, approver, f"Not done: approval {approval.id} was stale."
            )
        out = [
            _say(
                approval.card_chat,
                f"Approval {approval.id} is stale ({reason}); nothing was done.",
                kind="error",
            )
        ]
        fresh = None
        if propose_again:
            try:
                fresh = await self.request(
                    approver,
                    approval.chat,
                    approval.tool_name,
                    approval.args,
                    message_id,
                    approver_chat=approval.approver_chat,
                )
                out.append(card_message(fresh))
            except ActionInvalid as exc:
                out.append(
                    _say(approval.card_chat, f"Cannot propose it again: {exc}", kind="error")
                )
        self.book.audit(
            actor=approver.key,
            action="approval.stale",
            chat_key=approval.chat.key,
            message_id=message_id,
            approval_id=approval.id,
            details={"reason": reason, "fresh": fresh.id if fresh else None},
        )
        return Decision(out)

    async def _after_refusal(
        self, approval_id: str, who: Principal, verb: str, message: Inbound
    ) -> Decision:
        """The choice offered after a refused terminate: keep the builder, or propose a force."""
        refused = self.book.get(approval_id)
        if refused is None or refused.tool_name != "terminate_builder":
            text = f"No refused terminate {approval_id}."
            return Decision([_say(message.chat, text, kind="error")], refused)
        if who.key != refused.principal:
            self._audit_refusal(refused, who, message.message_id, "not the principal")
            text = "Only the person this was asked of can choose."
            return Decision([_say(message.chat, text, kind="error")], refused)
        if refused.state != "refused":
            text = f"Approval {refused.id} is {refused.state}; nothing to choose."
            return Decision([_say(message.chat, text, kind="error")], refused)
        proposed = (refused.result or {}).get("force")
        if verb == "force" and proposed:
            text = f"A force terminate is already proposed: approval {proposed}."
            return Decision([_say(message.chat, text, kind="error")], refused)
        if verb == "keep":
            self.book.finish(refused.id, state="kept", result=refused.result or {})
            self.book.audit(
                actor=who.key,
                action="builder.kept",
                chat_key=refused.chat.key,
                message_id=message.message_id,
                approval_id=refused.id,
                details={"builder": refused.args["name"]},
            )
            text = f"Keeping builder {refused.args['name']}."
            return Decision([_say(refused.card_chat, text)], self.book.get(refused.id))
        try:
            fresh = await self.request(
                who,
                refused.chat,
                "force_terminate_builder",
                {"name": refused.args["name"]},
                message.message_id,
                approver_chat=refused.approver_chat,
            )
        except ActionInvalid as exc:
            text = f"Cannot propose a force terminate: {exc}"
            return Decision([_say(refused.card_chat, text, kind="error")], refused)
        # One force card per refusal: pressing Force again points at the card already made.
        self.book.finish(
            refused.id, state="refused", result={**(refused.result or {}), "force": fresh.id}
        )
        return Decision([card_message(fresh)], self.book.get(refused.id))

    async def patch(self, approval_id: str, message: Inbound) -> Decision:
        """The Patch button on a terminate card: what terminating would discard, as a `.diff`.

        Looking decides nothing: the card stays as it is, whatever its state."""
        approval = self.book.get(approval_id)
        if approval is None or not offers_patch(approval.tool_name, approval.precondition):
            text = f"No terminate card {approval_id} with work to show."
            return Decision([_say(message.chat, text, kind="error")], approval)
        if message.sender.key != approval.principal:
            self._audit_refusal(approval, message.sender, message.message_id, "not the principal")
            text = "Only the person this was asked of can see the patch."
            return Decision([_say(message.chat, text, kind="error")], approval)
        name = str(approval.args["name"])
        reply = await patch_reply(self.actions.orchestrator, name, message.chat)
        return Decision([reply], approval)

    # ----- shared -------------------------------------------------------------------------

    def _audit_refusal(
        self, approval: Approval, who: Principal, message_id: str | None, reason: str
    ) -> None:
        self.book.audit(
            actor=who.key,
            action="approval.refused",
            chat_key=approval.chat.key,
            message_id=message_id,
            approval_id=approval.id,
            details={"reason": reason, "state": approval.state},
        )

    @staticmethod
    def _already_resolved(approval: Approval) -> Outbound:
        text = f"Approval {approval.id} was already resolved."
        return _say(approval.card_chat, text, kind="error")

    def _other_workspace(self, approval: Approval) -> str | None:
        if approval.workspace is None:
            return None
        if Path(approval.workspace).resolve() == Path(self.actions.workspace.root).resolve():
            return None
        return approval.workspace

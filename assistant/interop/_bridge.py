"""What MCP and A2A callers share: who asks, who decides, how requests reach the assistant.

A caller (another agent) may read, and may *request* a change. A request becomes an approval card
owned by the human (`approver`), never by the caller, so no MCP or A2A call can resolve it: the
card is shown in the human's DM (or `foreman approvals`), and the caller's chat learns the outcome.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.approvals import ActionInvalid, Approval, card_message
from assistant.messages import ChatRef, Inbound, Outbound, Principal

if TYPE_CHECKING:
    from assistant.dm import DirectMessages
    from tools.workspace import Workspace


class RequestRefused(ValueError):
    """The requested change cannot be proposed (unknown project, bad status, ...): says why."""


def local_human() -> Principal:
    """The human at this machine: `$FOREMAN_APPROVER` (platform:user_id) or the terminal user."""
    configured = os.environ.get("FOREMAN_APPROVER")
    if configured:
        return parse_principal(configured)
    return Principal("terminal", getpass.getuser())


def parse_principal(key: str) -> Principal:
    platform, sep, user_id = key.partition(":")
    if not sep or not user_id or platform not in ("telegram", "whatsapp", "terminal"):
        raise ValueError(
            f"approver {key!r} must be PLATFORM:USER_ID"
            " (PLATFORM one of telegram, whatsapp, terminal)"
        )
    return Principal(platform, user_id)  # type: ignore[arg-type]


def dm_of(principal: Principal) -> ChatRef:
    """The principal's direct chat, where their approval cards belong."""
    return ChatRef(principal.platform, principal.user_id)


@dataclass
class Bridge:
    """The assistant as seen by one kind of outside caller.

    `deliver` posts a card in the human's DM as soon as a caller raises it (`foreman serve`);
    without it the human finds it with `/approvals` or `foreman approvals`.
    """

    service: DirectMessages
    workspace: Workspace
    approver: Principal
    deliver: Callable[[Outbound], Awaitable[object]] | None = None

    @property
    def approver_chat(self) -> ChatRef:
        return dm_of(self.approver)

    async def request(
        self, caller: Principal, tool_name: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        """File a change in the caller's chat for the human to decide; nothing is applied here."""
        try:
            approval = await self.service.desk.request(
                self.approver, dm_of(caller), tool_name, args, approver_chat=self.approver_chat
            )
        except ActionInvalid as error:
            raise RequestRefused(f"{tool_name} refused: {error}") from None
        if self.deliver is not None:
            await self.deliver(card_message(approval))
        return approval_view(approval)

    def status(self, approval_id: str) -> dict[str, Any] | None:
        approval = self.service.approval(approval_id)
        return None if approval is None else approval_view(approval)

    async def ask(self, caller: Principal, text: str, thread: str | None = None) -> dict[str, Any]:
        """One turn with the assistant in the caller's own chat, speaking for the human.

        Cards the turn raises belong to the human: they are delivered to the human's DM and the
        caller's replies say whom they wait for.
        """
        from assistant.agent.failures import FAILURE

        chat = ChatRef(caller.platform, caller.user_id, thread_id=thread)
        replies: list[Outbound] = await self.service.handle(
            Inbound(chat=chat, sender=caller, text=text), approver=self.approver
        )
        texts: list[str] = []
        cards: list[dict[str, Any]] = []
        failed: str | None = None
        for reply in replies:
            if reply.chat.key == chat.key:
                texts.append(reply.text)
                # the model could not take the turn: the caller gets a failure, not a reply
                failed = reply.text if FAILURE in reply.extra else failed
                continue
            if self.deliver is not None:
                await self.deliver(reply)
            approval_id = reply.extra.get("approval_id")
            approval = self.service.approval(approval_id) if approval_id else None
            if approval is not None:
                cards.append(approval_view(approval))
        if failed is not None:
            return {"replies": texts, "approvals": cards, "failed": failed}
        return {"replies": texts, "approvals": cards}


def approval_view(approval: Approval) -> dict[str, Any]:
    """What a caller may know about an approval: id, state, the card, and any result."""
    view = {
        "approval_id": approval.id,
        "state": approval.state,
        "tool": approval.tool_name,
        "args": dict(approval.args),
        "card": approval.card,
        "approver": approval.principal,
    }
    if approval.result is not None:
        view["result"] = approval.result
    return view

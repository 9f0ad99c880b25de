"""What MCP and A2A callers share: who asks, who decides, how requests reach the assistant.

A caller (another agent) may read, and may *request* a change. A request becomes an approval card
owned by the human (`approver`), never by the caller, so no MCP or A2A call can resolve it: the
human decides in their DM or with `foreman approvals`.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.approvals import ActionInvalid, Approval
from assistant.messages import ChatRef, Inbound, Outbound, Principal

if TYPE_CHECKING:
    from assistant.service import AssistantService
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
    """The assistant as seen by one kind of outside caller."""

    service: AssistantService
    workspace: Workspace
    approver: Principal

    @property
    def approver_chat(self) -> ChatRef:
        return dm_of(self.approver)

    async def request(self, tool_name: str, args: dict[str, Any]) -> dict[str, Any]:
        """File a change for the human to decide; nothing is applied here."""
        try:
            approval = await self.service.arequest_approval(
                self.approver, self.approver_chat, tool_name, args
            )
        except ActionInvalid as error:
            raise RequestRefused(f"{tool_name} refused: {error}") from None
        return approval_view(approval)

    def status(self, approval_id: str) -> dict[str, Any] | None:
        approval = self.service.approval(approval_id)
        return None if approval is None else approval_view(approval)

    async def ask(self, caller: Principal, text: str, thread: str | None = None) -> dict[str, Any]:
        """One turn with the assistant in the caller's own chat.

        Cards the turn produces are handed to the human: the same request is re-filed in the
        human's DM and the caller's copy is withdrawn, so the caller can never answer its own card.
        """
        chat = ChatRef(caller.platform, caller.user_id, thread_id=thread)
        replies: list[Outbound] = await self.service.handle(
            Inbound(chat=chat, sender=caller, text=text)
        )
        texts: list[str] = []
        handed: list[dict[str, Any]] = []
        for reply in replies:
            approval_id = _card_id(reply)
            if approval_id is None:
                texts.append(reply.text)
                continue
            try:
                card = await self._hand_to_human(caller, approval_id)
            except RequestRefused as error:
                texts.append(f"Not filed for {self.approver.key}: {error}")
                continue
            handed.append(card)
            texts.append(
                f"Approval {card['approval_id']} is waiting for {self.approver.key}: {card['card']}"
            )
        return {"replies": texts, "approvals": handed}

    async def _hand_to_human(self, caller: Principal, approval_id: str) -> dict[str, Any]:
        """Withdraw the caller's own card, then file the same request for the human."""
        original = self.service.approval(approval_id)
        if original is None:
            raise RequestRefused(f"approval {approval_id} vanished")
        await self.service.resolve(approval_id, caller, approve=False)
        return await self.request(original.tool_name, dict(original.args))


def _card_id(message: Outbound) -> str | None:
    for choice in message.choices:
        action, _, approval_id = choice.data.partition(":")
        if action in ("approve", "reject") and approval_id:
            return approval_id
    return None


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

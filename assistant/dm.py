"""Direct messages with the assistant: dispatch, and free text for the agent.

Channels hand every direct message from an authenticated principal to `DirectMessages.handle`
and render the `Outbound` messages it returns. Slash commands go to `assistant.commands`,
button presses and yes/no answers to the `ApprovalDesk`, anything else to the agent.
Approval is enforced by the desk and the agent's tools, never by the model.

Another agent (MCP, A2A) talks in a chat of its own on a human's behalf: `handle(message,
approver=human)`. Cards its turns raise belong to the human and are shown in the human's own
chat; the agent is told whom they wait for, and its history learns the outcome once decided.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from assistant.approvals import (
    DEFAULT_TTL,
    ActionContext,
    ActionInvalid,
    Approval,
    ApprovalBook,
    ApprovalDesk,
    approver_chat,
    card_replies,
)
from assistant.commands import CommandContext, run_command
from assistant.conversations import DEFAULT_MAX_MESSAGES, DEFAULT_MAX_TOKENS, ConversationStore
from assistant.dm_images import ImageRefused, check_model, image_prompt
from assistant.messages import ChatRef, Inbound, Outbound, OutboundFile, Principal
from assistant.model_config import ModelNotConfigured
from assistant.store import Store
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator
from tools.workspace import Workspace

if TYPE_CHECKING:
    # pydantic-ai is imported where a model or a tool call is involved, so slash commands
    # and a starting `foreman chat` do not pay for it.
    from pydantic_ai import DeferredToolRequests, ToolApproved, ToolDenied
    from pydantic_ai.messages import ModelMessage, ToolCallPart, UserContent
    from pydantic_ai.models import Model

    from assistant.agent import AssistantDeps

log = logging.getLogger(__name__)

YES = frozenset({"y", "yes", "ok", "approve", "approved", "go", "do it", "👍"})
NO = frozenset({"n", "no", "reject", "rejected", "cancel", "stop", "👎"})
# Bounds one free-text turn: a runaway tool loop costs at most this many model requests.
TURN_REQUEST_LIMIT = 12


def local_principal() -> Principal:
    """The user at this machine's terminal: `foreman chat`, `foreman approvals`, MCP and A2A.

    Cards requested on their behalf are resolvable with `foreman approvals approve ID`.
    """
    user = getpass.getuser()
    return Principal("terminal", user, user)


class DirectMessages:
    """One workspace's assistant in direct chats, shared by every channel."""

    def __init__(
        self,
        store: Store,
        workspace: Workspace,
        model: str | Model | None = None,
        principals: set[str] | None = None,
        *,
        orchestrator: Orchestrator | None = None,
        approval_ttl: timedelta = DEFAULT_TTL,
        max_history: int = DEFAULT_MAX_MESSAGES,
        history_tokens: int | None = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.model = model
        # None: the channel already authenticated the sender (e.g. the local terminal user).
        self.principals = principals
        # a forced terminate keeps what it discards beside this state
        self.orchestrator = orchestrator or Orchestrator(
            workspace, OpenCodeClient.from_env(), archive_dir=store.path.parent / "archives"
        )
        self.approvals = ApprovalBook(store, approval_ttl)
        self.conversations = ConversationStore(store, max_history, history_tokens)
        # Decisions are written into the chats' histories by this service (the DecisionLog).
        self.desk = ApprovalDesk(
            self.approvals, ActionContext(workspace, self.orchestrator, store), self
        )
        self._commands = CommandContext(workspace, self.orchestrator, self.desk, self.conversations)
        self._locks: dict[str, asyncio.Lock] = {}

    # ----- entry points -------------------------------------------------------------------

    def is_principal(self, who: Principal) -> bool:
        return self.principals is None or who.key in self.principals

    async def handle(self, message: Inbound, approver: Principal | None = None) -> list[Outbound]:
        """Answer one direct message from a principal; anything else gets no answer at all.

        `approver` decides the cards this message leads to when that is not its sender: another
        agent speaking for a human (MCP, A2A), authenticated by the server it called. The
        approver must be a principal; the sender can never resolve a card. Cards are then
        addressed to the approver's own chat, beside a reply telling the sender whom they wait for.
        """
        approver = approver or message.sender
        if not self.is_principal(approver) or not message.chat.is_direct:
            return []
        if message.callback_data:
            return (await self.desk.press(message)).replies
        if message.attachment is not None:
            # an image, with its caption as the words (the router sends no other files here)
            return await self._converse(message, approver)
        text = message.text.strip()
        if not text:
            return []
        if text.startswith("/"):
            return await run_command(self._commands, message, text, approver)
        word = text.lower().rstrip(".!")
        if word in YES | NO:
            decision = await self.desk.answer(message, approver, word in YES)
            if decision is not None:
                return decision.replies
        return await self._converse(message, approver)

    def approval(self, approval_id: str) -> Approval | None:
        return self.approvals.get(approval_id)

    # ----- the DecisionLog the desk writes through ----------------------------------------

    def lock(self, chat_key: str) -> asyncio.Lock:
        return self._locks.setdefault(chat_key, asyncio.Lock())

    async def record(self, approval: Approval, approver: Principal, denial: str | None) -> None:
        """Answer the approval's tool call in its chat's history: approved, or `denial`.

        The card's own tool call is answered when it is still open; a card made without one (or
        whose call was already closed) is re-issued as a call so the next turn sees its result.
        An approved call's result reports the outcome the desk recorded on the approval.
        """
        from pydantic_ai import ToolApproved, ToolDenied
        from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, UserPromptPart

        from assistant.agent import open_calls, settle

        deps = self._deps(approver, approval.chat)
        history = self.conversations.load(approval.chat.key)
        pending = open_calls(history)
        call_id = approval.tool_call_id
        if call_id and any(c.tool_call_id == call_id for c in pending):
            decisions = self._standing_answers(pending)
        else:
            if pending:
                history, _ = await settle(deps, history, self._standing_answers(pending))
            call_id = f"approval-{approval.id}"
            title = approval.card.splitlines()[0]
            history = [
                *history,
                ModelRequest(parts=[UserPromptPart(f"(card {approval.id}: {title})")]),
                ModelResponse(
                    parts=[ToolCallPart(approval.tool_name, approval.args, tool_call_id=call_id)]
                ),
            ]
            decisions = {}
        decisions[call_id] = ToolApproved() if denial is None else ToolDenied(denial)
        history, _ = await settle(
            deps, history, decisions, metadata={call_id: {"approval_id": approval.id}}
        )
        self.conversations.save(approval.chat.key, history)

    # ----- free text ----------------------------------------------------------------------

    async def _converse(self, message: Inbound, approver: Principal) -> list[Outbound]:
        from assistant.agent.failures import failure_reply
        from assistant.agent.metered import Meter, metered
        from assistant.agent.models import resolve_model

        try:
            model = resolve_model(self.model)
        except ModelNotConfigured as exc:
            return [failure_reply(message.chat, exc)]
        prompt: str | list[UserContent] = message.text
        if message.attachment is not None:
            try:
                check_model(model)
                prompt = await image_prompt(message)
            except ImageRefused as refusal:
                return [_say(message.chat, str(refusal), kind="error")]
        # Counted per attempt, so a failed or cut-short turn is billed as the provider billed it.
        meter = Meter()
        counted = metered(model, meter)
        from pydantic_ai import DeferredToolRequests
        from pydantic_ai.usage import UsageLimits

        from assistant.agent import agent, open_calls, settle

        deps = self._deps(message.sender, message.chat)
        async with self.lock(message.chat.key):
            history = self.conversations.load(message.chat.key)
            pending = open_calls(history)
            if pending:
                history, _ = await settle(deps, history, self._standing_answers(pending))
            try:
                result = await agent.run(
                    prompt,
                    message_history=history,
                    deps=deps,
                    model=counted,
                    usage_limits=UsageLimits(request_limit=TURN_REQUEST_LIMIT),
                )
            except Exception as exc:  # a model or network failure must not take the chat down
                # Shown to the user below; the traceback only where logging is configured.
                log.info("agent run failed", exc_info=True)
                self.conversations.save(message.chat.key, history, meter)
                return [failure_reply(message.chat, exc, model)]
            messages = result.all_messages()
            self.conversations.save(message.chat.key, messages, meter)
        if isinstance(result.output, DeferredToolRequests):
            out = await self._cards(message, result.output, messages, approver)
        else:
            out = [_say(message.chat, result.output)]
        return with_tool_files(out, message.chat, deps.files)

    async def _cards(
        self,
        message: Inbound,
        requests: DeferredToolRequests,
        messages: list[ModelMessage],
        approver: Principal,
    ) -> list[Outbound]:
        """What the model said before asking, then a card for each mutation it asked for."""
        from pydantic_ai.messages import ModelResponse, TextPart

        out: list[Outbound] = []
        last = messages[-1] if isinstance(messages[-1], ModelResponse) else messages[-2]
        said = "\n".join(p.content for p in last.parts if isinstance(p, TextPart)).strip()
        if said:
            out.append(_say(message.chat, said))
        batch = requests.approvals[0].tool_call_id if requests.approvals else None
        shown_in = approver_chat(message, approver)
        for call in requests.approvals:
            try:
                approval = await self.desk.request(
                    approver,
                    message.chat,
                    call.tool_name,
                    call.args_as_dict(),
                    message.message_id,
                    approver_chat=shown_in,
                    tool_call_id=call.tool_call_id,
                    batch_id=batch,
                )
            except ActionInvalid as exc:
                text = f"Cannot propose {call.tool_name}: {exc}"
                out.append(_say(message.chat, text, kind="error"))
                continue
            out.extend(card_replies(approval, message.chat))
        return out

    # ----- shared -------------------------------------------------------------------------

    def _standing_answers(self, calls: list[ToolCallPart]) -> dict[str, ToolApproved | ToolDenied]:
        """Results for open calls whose cards are not the one being decided: they wait."""
        from pydantic_ai import ToolDenied

        return {
            c.tool_call_id: ToolDenied(self.desk.standing_answer(c.tool_call_id)) for c in calls
        }

    def _deps(self, principal: Principal, chat: ChatRef) -> AssistantDeps:
        from assistant.agent import AssistantDeps

        return AssistantDeps(
            workspace=self.workspace,
            orchestrator=self.orchestrator,
            approvals=self.approvals,
            principal=principal,
            chat=chat,
        )


def _say(chat: ChatRef, text: str, *, kind: str = "text") -> Outbound:
    return Outbound(chat=chat, text=text, kind=kind)


def with_tool_files(
    replies: list[Outbound], chat: ChatRef, files: list[OutboundFile]
) -> list[Outbound]:
    """The turn's replies with the files its tools left (a patch) on the first text reply
    in the chat; a message of their own when the turn said nothing there but cards."""
    if not files:
        return replies
    for index, reply in enumerate(replies):
        if reply.chat.key == chat.key and reply.kind == "text" and not reply.choices:
            return [*replies[:index], replace(reply, files=tuple(files)), *replies[index + 1 :]]
    names = ", ".join(f.filename for f in files)
    return [*replies, Outbound(chat=chat, text=f"📎 {names}", files=tuple(files))]

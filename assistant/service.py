"""The chat-facing assistant: deterministic commands, free text for the agent, and approvals.

Channels hand every direct message from an authenticated principal to `AssistantService.handle`
and render the `Outbound` messages it returns. Approval is enforced here and in the agent's
tools, never by the model: only the principal recorded on a card can resolve it.

Another agent (MCP, A2A) talks in a chat of its own on a human's behalf: `handle(message,
approver=human)`. Cards its turns raise belong to the human and are shown in the human's own
chat; the agent is told whom they wait for, and its history learns the outcome once decided.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import getpass
import logging
import re
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from assistant.approvals import (
    DEFAULT_TTL,
    ActionContext,
    ActionInvalid,
    ActionOutcome,
    Approval,
    ApprovalBook,
    card_message,
    commit_projectlist,
    git_commit_enabled,
    plan_action,
    render_report,
)
from assistant.conversations import DEFAULT_MAX_MESSAGES, ConversationStore
from assistant.messages import ChatRef, Choice, Inbound, Outbound, Principal
from assistant.model_config import ModelNotConfigured, resolve_model
from assistant.store import Store
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator
from tools.workspace import Workspace

if TYPE_CHECKING:
    # pydantic-ai is imported where a model or a tool call is involved, so slash commands
    # and a starting `foreman chat` do not pay for it.
    from pydantic_ai import DeferredToolRequests, ToolApproved, ToolDenied
    from pydantic_ai.messages import ModelMessage, ToolCallPart
    from pydantic_ai.models import Model

    from assistant.agent import AssistantDeps

log = logging.getLogger(__name__)
T = TypeVar("T")

YES = frozenset({"y", "yes", "ok", "approve", "approved", "go", "do it", "👍"})
NO = frozenset({"n", "no", "reject", "rejected", "cancel", "stop", "👎"})
_CALLBACK = re.compile(r"^(approve|reject|keep|force|cancel):([a-z0-9]{1,32})$")
# Bounds one free-text turn: a runaway tool loop costs at most this many model requests.
TURN_REQUEST_LIMIT = 12


def local_principal() -> Principal:
    """The user at this machine's terminal: `foreman chat`, `foreman approvals`, MCP and A2A.

    Cards requested on their behalf are resolvable with `foreman approvals approve ID`.
    """
    user = getpass.getuser()
    return Principal("terminal", user, user)


def _run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    # For the synchronous API: works whether or not the caller is inside an event loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class AssistantService:
    """One workspace's assistant, shared by every channel."""

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
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.model = model
        # None: the channel already authenticated the sender (e.g. the local terminal user).
        self.principals = principals
        self.orchestrator = orchestrator or Orchestrator(workspace, OpenCodeClient.from_env())
        self.approvals = ApprovalBook(store, approval_ttl)
        self.conversations = ConversationStore(store, max_history)
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
            return await self._callback(message)
        text = message.text.strip()
        if not text:
            return []
        if text.startswith("/"):
            from assistant.commands import run_command

            return await run_command(self, message, text, approver)
        if text.lower().rstrip(".!") in YES | NO:
            if approver.key != message.sender.key:
                waiting = self.approvals.pending(chat_key=message.chat.key)
                if waiting:
                    return self._not_theirs(message, waiting)
                return await self._converse(message, approver)
            pending = self.approvals.pending(
                shown_in=message.chat.key, principal=message.sender.key
            )
            if len(pending) == 1:
                approve = text.lower().rstrip(".!") in YES
                return await self._resolve(
                    pending[0].id, message.sender, approve, message.message_id, message.chat
                )
            if len(pending) > 1:
                ids = ", ".join(a.id for a in pending)
                return [
                    self._say(
                        message.chat,
                        f"Several approvals are pending ({ids}): use /approve ID or /reject ID.",
                    )
                ]
        return await self._converse(message, approver)

    def approval(self, approval_id: str) -> Approval | None:
        return self.approvals.get(approval_id)

    def request_approval(
        self,
        principal: Principal,
        chat: ChatRef,
        tool_name: str,
        args: dict[str, Any],
        *,
        approver_chat: ChatRef | None = None,
    ) -> Approval:
        """Propose a mutation without a model (MCP/A2A, /status): the same card, the same rules.

        Raises ActionInvalid when the action cannot be done (unknown project, bad status, ...).
        """
        return _run_in_thread(
            self.arequest_approval(principal, chat, tool_name, args, approver_chat=approver_chat)
        )

    async def arequest_approval(
        self,
        principal: Principal,
        chat: ChatRef,
        tool_name: str,
        args: dict[str, Any],
        message_id: str | None = None,
        *,
        approver_chat: ChatRef | None = None,
    ) -> Approval:
        """A card for `principal` to decide, raised in `chat`.

        `approver_chat`: the principal's own chat, when `chat` is someone else's (an agent's);
        the card is shown there and the outcome is still recorded in `chat`'s history.
        """
        plan = await plan_action(self._actions(), tool_name, args)
        return self._new_approval(
            chat=chat,
            principal=principal.key,
            tool_name=tool_name,
            args=args,
            card=f"{plan.title}\n{plan.body}",
            precondition=plan.precondition,
            request_message_id=message_id,
            approver_chat=approver_chat,
        )

    def card_replies(self, message: Inbound, approval: Approval) -> list[Outbound]:
        """The card in its approver's chat; a speaker who is not the approver is told it waits."""
        card = card_message(approval)
        if approval.card_chat.key == message.chat.key:
            return [card]
        waiting = f"Waiting for {approval.principal} to approve {approval.id}: {approval.card}"
        return [card, self._say(message.chat, waiting)]

    def approver_chat(self, message: Inbound, approver: Principal) -> ChatRef | None:
        """Where `approver` sees cards raised by `message`: None when in the message's own chat."""
        if approver.key == message.sender.key:
            return None
        return ChatRef(approver.platform, approver.user_id)

    async def resolve(
        self,
        approval_id: str,
        approver: Principal,
        approve: bool,
        message_id: str | None = None,
    ) -> list[Outbound]:
        """Approve or reject a card. Only its principal may; each card is resolved once."""
        return await self._resolve(approval_id, approver, approve, message_id, None)

    # ----- approvals ----------------------------------------------------------------------

    async def _callback(self, message: Inbound) -> list[Outbound]:
        match = _CALLBACK.match(message.callback_data or "")
        if not match:
            return [self._say(message.chat, "That button is not one I know.", kind="error")]
        action, approval_id = match.groups()
        if action in ("approve", "reject", "cancel"):
            return await self._resolve(
                approval_id, message.sender, action == "approve", message.message_id, message.chat
            )
        return await self._after_refusal(approval_id, message.sender, action, message)

    async def _after_refusal(
        self, approval_id: str, who: Principal, action: str, message: Inbound
    ) -> list[Outbound]:
        """The choice offered after a refused terminate: keep the builder, or propose a force."""
        refused = self.approvals.get(approval_id)
        if refused is None or refused.tool_name != "terminate_builder":
            return [self._say(message.chat, f"No refused terminate {approval_id}.", kind="error")]
        if who.key != refused.principal:
            self._audit_refusal(refused, who, message.message_id, "not the principal")
            return [
                self._say(
                    message.chat, "Only the person this was asked of can choose.", kind="error"
                )
            ]
        if refused.state != "refused":
            return [
                self._say(
                    message.chat,
                    f"Approval {refused.id} is {refused.state}; nothing to choose.",
                    kind="error",
                )
            ]
        proposed = (refused.result or {}).get("force")
        if action == "force" and proposed:
            return [
                self._say(
                    message.chat,
                    f"A force terminate is already proposed: approval {proposed}.",
                    kind="error",
                )
            ]
        if action == "keep":
            self.approvals.finish(refused.id, state="kept", result=refused.result or {})
            self.approvals.audit(
                actor=who.key,
                action="builder.kept",
                chat_key=refused.chat.key,
                message_id=message.message_id,
                approval_id=refused.id,
                details={"builder": refused.args["name"]},
            )
            return [self._say(refused.card_chat, f"Keeping builder {refused.args['name']}.")]
        try:
            fresh = await self.arequest_approval(
                who,
                refused.chat,
                "force_terminate_builder",
                {"name": refused.args["name"]},
                message.message_id,
                approver_chat=refused.approver_chat,
            )
        except ActionInvalid as exc:
            return [
                self._say(
                    refused.card_chat, f"Cannot propose a force terminate: {exc}", kind="error"
                )
            ]
        # One force card per refusal: pressing Force again points at the card already made.
        self.approvals.finish(
            refused.id, state="refused", result={**(refused.result or {}), "force": fresh.id}
        )
        return [card_message(fresh)]

    def _not_theirs(self, message: Inbound, waiting: list[Approval]) -> list[Outbound]:
        """A yes or no from someone speaking for the approver decides nothing; the log says so."""
        for approval in waiting:
            self._audit_refusal(approval, message.sender, message.message_id, "not the principal")
        lines = [f"Only {a.principal} can decide {a.id}: {a.card.splitlines()[0]}" for a in waiting]
        return [self._say(message.chat, "\n".join(lines), kind="error")]

    def _audit_refusal(
        self, approval: Approval, who: Principal, message_id: str | None, reason: str
    ) -> None:
        self.approvals.audit(
            actor=who.key,
            action="approval.refused",
            chat_key=approval.chat.key,
            message_id=message_id,
            approval_id=approval.id,
            details={"reason": reason, "state": approval.state},
        )

    async def _resolve(
        self,
        approval_id: str,
        approver: Principal,
        approve: bool,
        message_id: str | None,
        reply_chat: ChatRef | None,
    ) -> list[Outbound]:
        approval = self.approvals.get(approval_id)
        if approval is None:
            chat = reply_chat or ChatRef(approver.platform, approver.user_id)
            return [self._say(chat, f"No approval {approval_id}.", kind="error")]
        chat = reply_chat or approval.card_chat
        if approver.key != approval.principal:
            self._audit_refusal(approval, approver, message_id, "not the principal")
            return [
                self._say(
                    chat,
                    f"Approval {approval.id} can only be resolved by the person it was asked of.",
                    kind="error",
                )
            ]
        elsewhere = self._other_workspace(approval)
        if elsewhere:
            return [
                self._say(
                    chat,
                    f"Approval {approval.id} belongs to the workspace {elsewhere}; "
                    "resolve it there.",
                    kind="error",
                )
            ]
        if not approval.is_pending:
            self._audit_refusal(approval, approver, message_id, f"already {approval.state}")
            return [
                self._say(
                    chat,
                    f"Approval {approval.id} is already {approval.state}; nothing done.",
                    kind="error",
                )
            ]
        if approval.expired():
            if self.approvals.claim(approval.id, state="expired", by=approver.key):
                self._audit_refusal(approval, approver, message_id, "expired")
            return [self._say(chat, f"Approval {approval.id} expired; ask again.", kind="error")]
        async with self._lock(approval.chat.key):
            if not approve:
                return await self._reject(approval, approver, message_id)
            return await self._approve(approval, approver, message_id)

    async def _reject(
        self, approval: Approval, approver: Principal, message_id: str | None
    ) -> list[Outbound]:
        from pydantic_ai import ToolDenied

        if not self.approvals.claim(approval.id, state="rejected", by=approver.key):
            return [
                self._say(
                    approval.card_chat,
                    f"Approval {approval.id} was already resolved.",
                    kind="error",
                )
            ]
        decider = "The user" if approval.approver_chat is None else approval.principal
        await self._record(approval, approver, ToolDenied(f"{decider} rejected {approval.id}."))
        self.approvals.audit(
            actor=approver.key,
            action="approval.rejected",
            chat_key=approval.chat.key,
            message_id=message_id,
            approval_id=approval.id,
            details={"tool": approval.tool_name, "args": approval.args},
        )
        title = approval.card.splitlines()[0]
        return [self._say(approval.card_chat, f"Rejected {approval.id}: {title}. Nothing changed.")]

    async def _approve(
        self, approval: Approval, approver: Principal, message_id: str | None
    ) -> list[Outbound]:
        from pydantic_ai import ToolApproved

        deps = self._deps(approver, approval.chat)
        try:
            plan = await plan_action(deps.actions, approval.tool_name, approval.args)
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
        if not self.approvals.claim(approval.id, state="approved", by=approver.key):
            return [
                self._say(
                    approval.card_chat,
                    f"Approval {approval.id} was already resolved.",
                    kind="error",
                )
            ]
        outcome = await self._record(approval, approver, ToolApproved(), deps)
        if outcome is None:
            outcome = ActionOutcome("failed", "The action did not run.")
        if outcome.status == "stale":
            self.approvals.finish(approval.id, state="stale", result={"summary": outcome.summary})
            return await self._stale(
                approval,
                approver,
                message_id,
                outcome.summary,
                propose_again=True,
                already_claimed=True,
            )
        details = dict(outcome.details)
        if (
            outcome.status == "done"
            and approval.tool_name == "set_project_status"
            and git_commit_enabled()
        ):
            try:
                details["commit"] = commit_projectlist(
                    self.workspace,
                    outcome.summary,
                    approver.display_name or approver.key,
                    approval.id,
                )
            except Exception as exc:  # git is optional: the change stands, the report says so
                details["commit_error"] = str(exc)
        result = {"status": outcome.status, "summary": outcome.summary, "details": details}
        self.approvals.finish(approval.id, state=outcome.status, result=result)
        self.approvals.audit(
            actor=approver.key,
            action=f"approval.approved.{outcome.status}",
            chat_key=approval.chat.key,
            message_id=message_id,
            approval_id=approval.id,
            details={"tool": approval.tool_name, "args": approval.args, **result},
        )
        return [self._report(approval, outcome, details)]

    def _report(
        self, approval: Approval, outcome: ActionOutcome, details: dict[str, Any]
    ) -> Outbound:
        lines = [("✓ " if outcome.status == "done" else "✗ ") + outcome.summary]
        if details.get("diff"):
            lines.append(details["diff"])
        if details.get("commit"):
            lines.append(f"Committed {details['commit'][:10]}")
        if details.get("commit_error"):
            lines.append(f"Not committed: {details['commit_error']}")
        if outcome.status == "refused" and "report" in details:
            lines.append(render_report(details["report"]))
            lines.append("Keep the builder, or force-terminate it (discards the work above)?")
            return Outbound(
                chat=approval.card_chat,
                text="\n".join(lines),
                choices=(
                    Choice("Keep", f"keep:{approval.id}"),
                    Choice("Force terminate", f"force:{approval.id}"),
                ),
                kind="error",
                extra={"approval_id": approval.id},
            )
        return self._say(
            approval.card_chat,
            "\n".join(lines),
            kind="text" if outcome.status == "done" else "error",
        )

    async def _stale(
        self,
        approval: Approval,
        approver: Principal,
        message_id: str | None,
        reason: str,
        *,
        propose_again: bool,
        already_claimed: bool = False,
    ) -> list[Outbound]:
        from pydantic_ai import ToolDenied

        if not already_claimed:
            if not self.approvals.claim(approval.id, state="stale", by=approver.key):
                return [
                    self._say(
                        approval.card_chat,
                        f"Approval {approval.id} was already resolved.",
                        kind="error",
                    )
                ]
            await self._record(
                approval, approver, ToolDenied(f"Not done: approval {approval.id} was stale.")
            )
        out = [
            self._say(
                approval.card_chat,
                f"Approval {approval.id} is stale ({reason}); nothing was done.",
                kind="error",
            )
        ]
        fresh = None
        if propose_again:
            try:
                fresh = await self.arequest_approval(
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
                    self._say(approval.card_chat, f"Cannot propose it again: {exc}", kind="error")
                )
        self.approvals.audit(
            actor=approver.key,
            action="approval.stale",
            chat_key=approval.chat.key,
            message_id=message_id,
            approval_id=approval.id,
            details={"reason": reason, "fresh": fresh.id if fresh else None},
        )
        return out

    def _standing_answer(self, call: ToolCallPart) -> ToolDenied:
        """What an open call's result says while its own card is not the one being decided."""
        from pydantic_ai import ToolDenied

        other = self.approvals.by_call(call.tool_call_id)
        if other is None:
            return ToolDenied("Not run: no approval was requested for this call.")
        if other.state == "pending":
            decider = "the user" if other.approver_chat is None else other.principal
            return ToolDenied(
                f"Not run yet: waiting for {decider}'s decision on approval {other.id}."
            )
        if other.state == "invalid":
            return ToolDenied(f"Not proposed: {(other.result or {}).get('error', 'invalid')}")
        return ToolDenied(f"Not run: approval {other.id} is {other.state}.")

    async def _record(
        self,
        approval: Approval,
        approver: Principal,
        decision: ToolApproved | ToolDenied,
        deps: AssistantDeps | None = None,
    ) -> ActionOutcome | None:
        """Run or deny the approval's tool call through the agent, and keep it in the history.

        The card's own tool call is answered when it is still open; a card made without one (or
        whose call was already closed) is re-issued as a call so the next turn sees its result.
        """
        from pydantic_ai.messages import ModelRequest, ModelResponse, ToolCallPart, UserPromptPart

        from assistant.agent import open_calls, settle

        deps = deps or self._deps(approver, approval.chat)
        history = self.conversations.load(approval.chat.key)
        pending = open_calls(history)
        call_id = approval.tool_call_id
        if call_id and any(c.tool_call_id == call_id for c in pending):
            decisions = {c.tool_call_id: self._standing_answer(c) for c in pending}
        else:
            if pending:
                history, _ = await settle(
                    deps, history, {c.tool_call_id: self._standing_answer(c) for c in pending}
                )
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
        decisions[call_id] = decision
        history, _ = await settle(
            deps, history, decisions, metadata={call_id: {"approval_id": approval.id}}
        )
        self.conversations.save(approval.chat.key, history)
        return deps.outcomes.get(approval.id)

    # ----- free text ----------------------------------------------------------------------

    async def _converse(self, message: Inbound, approver: Principal) -> list[Outbound]:
        from assistant.agent.failures import failure_reply

        try:
            model = resolve_model(self.model)
        except ModelNotConfigured as exc:
            return [failure_reply(message.chat, exc)]
        from pydantic_ai import DeferredToolRequests
        from pydantic_ai.usage import UsageLimits

        from assistant.agent import agent, open_calls, settle

        deps = self._deps(message.sender, message.chat)
        async with self._lock(message.chat.key):
            history = self.conversations.load(message.chat.key)
            pending = open_calls(history)
            if pending:
                history, _ = await settle(
                    deps, history, {c.tool_call_id: self._standing_answer(c) for c in pending}
                )
            try:
                result = await agent.run(
                    message.text,
                    message_history=history,
                    deps=deps,
                    model=model,
                    usage_limits=UsageLimits(request_limit=TURN_REQUEST_LIMIT),
                )
            except Exception as exc:  # a model or network failure must not take the chat down
                # Shown to the user below; the traceback only where logging is configured.
                log.info("agent run failed", exc_info=True)
                self.conversations.save(message.chat.key, history)
                return [failure_reply(message.chat, exc, model)]
            messages = result.all_messages()
            self.conversations.save(message.chat.key, messages, result.usage)
        if isinstance(result.output, DeferredToolRequests):
            return await self._cards(message, result.output, messages, approver)
        return [self._say(message.chat, result.output)]

    async def _cards(
        self,
        message: Inbound,
        requests: DeferredToolRequests,
        messages: list[ModelMessage],
        approver: Principal,
    ) -> list[Outbound]:
        from pydantic_ai.messages import ModelResponse, TextPart

        out: list[Outbound] = []
        last = messages[-1] if isinstance(messages[-1], ModelResponse) else messages[-2]
        said = "\n".join(p.content for p in last.parts if isinstance(p, TextPart)).strip()
        if said:
            out.append(self._say(message.chat, said))
        batch = requests.approvals[0].tool_call_id if requests.approvals else None
        approver_chat = self.approver_chat(message, approver)
        for call in requests.approvals:
            args = call.args_as_dict()
            try:
                plan = await plan_action(self._actions(), call.tool_name, args)
            except ActionInvalid as exc:
                invalid = self._new_approval(
                    chat=message.chat,
                    principal=approver.key,
                    tool_name=call.tool_name,
                    args=args,
                    card=f"{call.tool_name}: {exc}",
                    precondition={},
                    tool_call_id=call.tool_call_id,
                    batch_id=batch,
                    request_message_id=message.message_id,
                    approver_chat=approver_chat,
                )
                self.approvals.claim(invalid.id, state="invalid", by="assistant")
                self.approvals.finish(invalid.id, state="invalid", result={"error": str(exc)})
                out.append(
                    self._say(message.chat, f"Cannot propose {call.tool_name}: {exc}", kind="error")
                )
                continue
            approval = self._new_approval(
                chat=message.chat,
                principal=approver.key,
                tool_name=call.tool_name,
                args=args,
                card=f"{plan.title}\n{plan.body}",
                precondition=plan.precondition,
                tool_call_id=call.tool_call_id,
                batch_id=batch,
                request_message_id=message.message_id,
                approver_chat=approver_chat,
            )
            out.extend(self.card_replies(message, approval))
        return out

    # ----- shared -------------------------------------------------------------------------

    def _new_approval(self, **fields: Any) -> Approval:
        return self.approvals.create(workspace=str(self.workspace.root), **fields)

    def _other_workspace(self, approval: Approval) -> str | None:
        if approval.workspace is None:
            return None
        if Path(approval.workspace).resolve() == Path(self.workspace.root).resolve():
            return None
        return approval.workspace

    def _actions(self) -> ActionContext:
        return ActionContext(self.workspace, self.orchestrator)

    def _deps(self, principal: Principal, chat: ChatRef) -> AssistantDeps:
        from assistant.agent import AssistantDeps

        return AssistantDeps(
            workspace=self.workspace,
            orchestrator=self.orchestrator,
            approvals=self.approvals,
            principal=principal,
            chat=chat,
        )

    def _lock(self, chat_key: str) -> asyncio.Lock:
        return self._locks.setdefault(chat_key, asyncio.Lock())

    @staticmethod
    def _say(chat: ChatRef, text: str, *, kind: str = "text") -> Outbound:
        return Outbound(chat=chat, text=text, kind=kind)

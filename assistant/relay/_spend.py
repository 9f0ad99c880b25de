"""A builder's spend as the relay sees it: each assistant message counted once, the turn's
cost under its "Done", and the budget kept — warned once at 80%, the running turn stopped at
100% and new prompts held until the principal raises or lifts it (an approval card)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from assistant.messages import ChatRef, Outbound, Principal
from assistant.relay._bindings import BoundChats
from assistant.relay._notice import Notification
from assistant.spend import (
    WARN_AT,
    Budget,
    BudgetError,
    Ledger,
    Usage,
    dollars,
    held_because,
    message_usage,
)
from assistant.store import Store
from tools.opencode import Event, OpenCodeClient, OpenCodeError

log = logging.getLogger(__name__)

# raises the card that sets a builder's budget (usd None: lift it) for the principal to decide,
# and answers what to say in the chat that asked; wired by whoever owns the approval desk
BudgetRequest = Callable[[Principal, ChatRef, str, float | None], Awaitable[list[Outbound]]]

CATCH_UP_MESSAGES = 50  # a turn's model calls read back after the stream was down
ASK_PRINCIPAL = "the principal can raise it with /budget N or lift it with /budget off"


class Spending:
    """The relay's side of the ledger: records what OpenCode reports and keeps the budget."""

    def __init__(self, store: Store, bound: BoundChats, opencode: OpenCodeClient) -> None:
        self.ledger = Ledger(store)
        self.bound = bound
        self.opencode = opencode
        # subagent session -> the builder's session that started it (OpenCode's task tool)
        self.subagents: dict[str, str] = {}

    def budget(self, builder: str) -> Budget:
        """The builder's budget in force; BudgetError when the configured one is invalid."""
        return self.ledger.budget(builder, self.bound.declared_projects())

    def total(self, builder: str) -> Usage:
        return self.ledger.total(builder)

    def turn_started(self, builder: str, session_id: str, event_id: str | None) -> None:
        self.ledger.start_turn(builder, session_id, f"{session_id}:{event_id or 'turn'}")

    async def observe(
        self, builder: str, session_id: str, event: Event, busy: bool, turn_of: str | None = None
    ) -> list[Notification]:
        """An event of the builder's session: an assistant message's cost is recorded, and
        the budget checked. A message first seen while no turn runs (a fork's copies, history
        replayed) cost nothing now and is not counted. `turn_of`: the session whose turn a
        subagent's message belongs to (and which is stopped at the budget)."""
        if event.type != "message.updated":
            return []
        info = event.properties.get("info")
        usage = message_usage(info)
        if usage is None:
            return []
        message_id = str(info["id"])  # type: ignore[index]
        if not busy and not self.ledger.knows(message_id):
            return []
        self.ledger.record(builder, session_id, message_id, usage, turn_of=turn_of)
        return await self._check(builder, turn_of or session_id, busy)

    async def catch_up(self, builder: str, session_id: str, busy: bool) -> list[Notification]:
        """After the event stream was down during a turn: the session's latest messages as
        they are now. Those from the first one already counted on, or begun since the turn
        started, are this turn's; older ones were never the relay's to count."""
        try:
            recent = await self.opencode.messages(session_id, limit=CATCH_UP_MESSAGES)
        except OpenCodeError as exc:
            log.warning("relay: could not read %s's messages to count them: %s", builder, exc)
            return []
        infos = [e.get("info") for e in recent if isinstance(e, dict)]
        replies = [i for i in infos if isinstance(i, dict) and i.get("role") == "assistant"]
        started = self.ledger.turn_started_ms(session_id)
        counting = False
        for info in replies:  # oldest first
            created = (info.get("time") or {}).get("created")
            since_start = isinstance(created, int | float) and started is not None
            counting = counting or self.ledger.knows(str(info.get("id")))
            if counting or (since_start and created >= started):  # type: ignore[operator]
                usage = message_usage(info)
                if usage is not None:
                    self.ledger.record(builder, session_id, str(info["id"]), usage)
        return await self._check(builder, session_id, busy)

    async def _check(self, builder: str, session_id: str, busy: bool) -> list[Notification]:
        try:
            budget = self.budget(builder)
        except BudgetError:
            return []  # prompts are held with the error (see `held`); nothing to compare
        if budget.usd is None:
            return []
        spent = self.total(builder).cost
        limit = budget.usd
        if spent >= limit:
            if busy:
                try:
                    await self.opencode.abort(session_id)
                except OpenCodeError as exc:
                    log.warning("relay: could not stop %s at its budget: %s", builder, exc)
            text = (
                f"Budget reached: {builder} spent {dollars(spent)} of its {dollars(limit)} "
                f"budget; its turn was stopped and new prompts are held until {ASK_PRINCIPAL}."
            )
            # keyed by the budget: raising it and reaching the new one is news again
            return [Notification(f"budget:{builder}:stop:{limit!r}", session_id, "budget", text)]
        if spent >= WARN_AT * limit:
            share = int(spent / limit * 100)
            text = (
                f"Budget: {builder} has spent {dollars(spent)} of its {dollars(limit)} budget "
                f"({share}%); at 100% its turn is stopped and prompts are held."
            )
            return [Notification(f"budget:{builder}:warn:{limit!r}", session_id, "budget", text)]
        return []

    def held(self, builder: str) -> str | None:
        """Why a prompt for the builder is not sent now (one line), or None to send it."""
        reason = held_because(self.ledger, builder, self.bound.declared_projects())
        return None if reason is None else f"⏸ Not sent: {reason}."

    async def done_note(self, builder: str, notification: Notification) -> str | None:
        """The turn's cost and tokens, under its "Done"."""
        usage = self.ledger.turn(notification.session_id)
        return f"💰 This turn: {usage.render()}" if usage.messages else None

    def report(self, builder: str) -> str:
        """`/usage` in a bound chat: what the builder spent, and its budget."""
        total = self.total(builder)
        lines = [
            f"{builder} spent {total.render()} over {total.messages} model "
            f"call{'s' if total.messages != 1 else ''}."
        ]
        try:
            budget = self.budget(builder)
        except BudgetError as exc:
            lines.append(f"Budget: {exc}.")
            return "\n".join(lines)
        said = budget.describe()
        said = said[0].upper() + said[1:]
        if budget.usd is None:
            lines.append(f"{said}; /budget N asks the principal to set one.")
        else:
            lines.append(f"{said}: {int(total.cost / budget.usd * 100)}% used.")
        return "\n".join(lines)

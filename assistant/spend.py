"""What each builder spent on its model, and the budget it may spend: a ledger in the state.

OpenCode puts `cost` (US dollars) and `tokens` on every assistant message and re-sends the
message as it grows, so the ledger keeps one row per message at its latest value: a repeated
update or a replay after a reconnect replaces the row, never adds to it. A turn is the relay's
busy → idle span; its messages are the ones first seen while it ran.

A builder's budget is, first match wins: the principal's approved change (stored here), the
project's `chat_binding.budget_usd` in the project list, `FOREMAN_BUILDER_BUDGET_USD`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from assistant.store import Store

BUDGET_ENV = "FOREMAN_BUILDER_BUDGET_USD"
WARN_AT = 0.8  # the share of the budget at which the chat is warned, once


class BudgetError(ValueError):
    """A configured budget is not a number of dollars above zero; says where it was set."""


@dataclass(frozen=True)
class Usage:
    """Dollars and tokens, summed over some assistant messages."""

    cost: float = 0.0
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache_read: int = 0
    cache_write: int = 0
    messages: int = 0

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.reasoning + self.cache_read + self.cache_write

    def render(self) -> str:
        """`$0.30 · 110,000 tokens (100,000 in, 10,000 out)`; reasoning and cache when used."""
        parts = [f"{self.input:,} in", f"{self.output:,} out"]
        if self.reasoning:
            parts.append(f"{self.reasoning:,} reasoning")
        if self.cache_read or self.cache_write:
            parts.append(f"{self.cache_read:,} cache read, {self.cache_write:,} cache write")
        return f"{dollars(self.cost)} · {self.tokens:,} tokens ({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "cost_usd": self.cost,
            "tokens": {
                "input": self.input,
                "output": self.output,
                "reasoning": self.reasoning,
                "cache_read": self.cache_read,
                "cache_write": self.cache_write,
            },
            "messages": self.messages,
        }


def dollars(amount: float) -> str:
    """`$0.30`, `$12.50`; below ten cents up to four decimals, where cents would say nothing."""
    if amount == 0 or amount >= 0.1:
        return f"${amount:,.2f}"
    shown = f"{amount:.4f}".rstrip("0")
    return "<$0.0001" if shown == "0." else f"${shown}"


def _count(value: Any) -> int:
    # a token count OpenCode sent in an unexpected shape counts as nothing, never fails a turn
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def message_usage(info: Any) -> Usage | None:
    """An assistant message's cost and tokens (`message.updated` info); None for other shapes."""
    if not isinstance(info, dict) or info.get("role") != "assistant" or not info.get("id"):
        return None
    tokens = info.get("tokens") if isinstance(info.get("tokens"), dict) else {}
    cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
    cost = info.get("cost")
    return Usage(
        cost=float(cost) if isinstance(cost, int | float) and math.isfinite(cost) else 0.0,
        input=_count(tokens.get("input")),
        output=_count(tokens.get("output")),
        reasoning=_count(tokens.get("reasoning")),
        cache_read=_count(cache.get("read")),
        cache_write=_count(cache.get("write")),
        messages=1,
    )


def parse_budget(value: Any, where: str) -> float:
    """A budget in dollars (above 0); BudgetError naming `where` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BudgetError(f"{where} must be a number of US dollars above 0, got {value!r}")
    try:
        amount = float(str(value).strip().lstrip("$"))
    except ValueError:
        raise BudgetError(
            f"{where} must be a number of US dollars above 0, got {value!r}"
        ) from None
    if not math.isfinite(amount) or amount <= 0:
        raise BudgetError(f"{where} must be a number of US dollars above 0, got {value!r}")
    return amount


@dataclass(frozen=True)
class Budget:
    """A builder's budget in force: `usd` None means no limit; `source` says who set it."""

    usd: float | None
    source: Literal["approved", "project list", "environment", "none"]

    def describe(self) -> str:
        if self.usd is None:
            return "no budget" + (" (lifted by the principal)" if self.source == "approved" else "")
        return f"budget {dollars(self.usd)} ({self.source})"


def project_of(builder: str, projects: Iterable[Any]) -> Any | None:
    """The project a builder works on: its name is `<project id>-<slug>` (longest id wins)."""
    found = None
    for project in projects:
        pid = str(getattr(project, "id", ""))
        matches = pid and (builder == pid or builder.startswith(pid + "-"))
        if matches and (found is None or len(pid) > len(str(found.id))):
            found = project
    return found


def declared_budget(builder: str, projects: Iterable[Any]) -> Budget:
    """The budget the project list or the environment sets; BudgetError for a bad value."""
    project = project_of(builder, projects)
    binding = getattr(project, "chat_binding", None) if project is not None else None
    extra = getattr(binding, "extra", None) or {}
    if "budget_usd" in extra and extra["budget_usd"] is not None:
        where = f"project {project.id}: chat_binding budget_usd"  # type: ignore[union-attr]
        return Budget(parse_budget(extra["budget_usd"], where), "project list")
    configured = os.environ.get(BUDGET_ENV, "").strip()
    if configured:
        return Budget(parse_budget(configured, BUDGET_ENV), "environment")
    return Budget(None, "none")


class Ledger:
    """The spend and budget tables of the state: every reader and writer goes through here."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ----- spend ------------------------------------------------------------------------

    def start_turn(self, builder: str, session_id: str, turn_id: str) -> None:
        """A turn began: messages first seen from now on are this turn's."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO builder_turns (turn_id, builder, session_id, started_at) "
                "VALUES (?, ?, ?, ?)",
                (turn_id, builder, session_id, _now()),
            )

    def record(
        self,
        builder: str,
        session_id: str,
        message_id: str,
        usage: Usage,
        *,
        turn_of: str | None = None,
    ) -> None:
        """A message at its latest value; it stays in the turn it was first seen in (that of
        `turn_of` for a subagent's message: the session whose turn started the subagent)."""
        with self.store.transaction() as conn:
            turn = self._current_turn(conn, turn_of or session_id)
            conn.execute(
                "INSERT INTO builder_spend (message_id, builder, session_id, turn_id, cost, "
                "input, output, reasoning, cache_read, cache_write, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (message_id) DO UPDATE SET cost = excluded.cost, "
                "input = excluded.input, output = excluded.output, "
                "reasoning = excluded.reasoning, cache_read = excluded.cache_read, "
                "cache_write = excluded.cache_write, updated_at = excluded.updated_at",
                (
                    message_id,
                    builder,
                    session_id,
                    turn,
                    usage.cost,
                    usage.input,
                    usage.output,
                    usage.reasoning,
                    usage.cache_read,
                    usage.cache_write,
                    _now(),
                ),
            )

    def turn_started_ms(self, session_id: str) -> float | None:
        """When the session's current turn began, in epoch milliseconds (OpenCode's clock unit),
        a second early: the relay hears of a turn just after OpenCode starts it."""
        row = self.store.connection.execute(
            "SELECT started_at FROM builder_turns WHERE session_id = ? ORDER BY rowid DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        return datetime.fromisoformat(row[0]).timestamp() * 1000 - 1000

    def knows(self, message_id: str) -> bool:
        row = self.store.connection.execute(
            "SELECT 1 FROM builder_spend WHERE message_id = ?", (message_id,)
        ).fetchone()
        return row is not None

    @staticmethod
    def _current_turn(conn: Any, session_id: str) -> str | None:
        row = conn.execute(
            "SELECT turn_id FROM builder_turns WHERE session_id = ? ORDER BY rowid DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        return row[0] if row else None

    def _sum(self, where: str, args: tuple[Any, ...]) -> Usage:
        row = self.store.connection.execute(
            "SELECT COALESCE(SUM(cost), 0), COALESCE(SUM(input), 0), COALESCE(SUM(output), 0), "
            "COALESCE(SUM(reasoning), 0), COALESCE(SUM(cache_read), 0), "
            f"COALESCE(SUM(cache_write), 0), COUNT(*) FROM builder_spend WHERE {where}",
            args,
        ).fetchone()
        return Usage(float(row[0]), *(int(v) for v in row[1:]))

    def turn(self, session_id: str) -> Usage:
        """The session's current (or last) turn."""
        turn = self._current_turn(self.store.connection, session_id)
        return self._sum("turn_id = ?", (turn,)) if turn else Usage()

    def total(self, builder: str) -> Usage:
        """Everything the builder's sessions spent while Foreman relayed them."""
        return self._sum("builder = ?", (builder,))

    # ----- budgets ----------------------------------------------------------------------

    def approved_budget(self, builder: str) -> Budget | None:
        """The principal's approved budget for the builder (usd None: lifted), if any."""
        row = self.store.connection.execute(
            "SELECT budget_usd FROM builder_budgets WHERE builder = ?", (builder,)
        ).fetchone()
        return None if row is None else Budget(row[0], "approved")

    def set_budget(self, builder: str, usd: float | None) -> None:
        """The principal's approved budget (None: no limit); it outranks every configured one."""
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO builder_budgets (builder, budget_usd, set_at) "
                "VALUES (?, ?, ?)",
                (builder, usd, _now()),
            )

    def budget(self, builder: str, projects: Iterable[Any]) -> Budget:
        """The budget in force; BudgetError when the configured one is not a valid amount."""
        return self.approved_budget(builder) or declared_budget(builder, projects)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def held_because(ledger: Ledger, builder: str, projects: Iterable[Any]) -> str | None:
    """Why a prompt to the builder is held now and what to do (one line), or None to send it:
    its budget is reached, or the configured one is not valid."""
    try:
        budget = ledger.budget(builder, projects)
    except BudgetError as exc:
        return f"{builder}'s budget is not valid ({exc}); fix it, or set one with /budget N"
    if budget.usd is None:
        return None
    spent = ledger.total(builder).cost
    if spent < budget.usd:
        return None
    return (
        f"{builder} reached its {dollars(budget.usd)} budget ({dollars(spent)} spent); "
        "the principal can raise it with /budget N or lift it with /budget off"
    )

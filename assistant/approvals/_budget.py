"""A builder's budget, set or lifted by the principal: what the card shows, and doing it.

The card shows the budget in force and what the builder spent; only the budget is compared
when the card is decided (what the builder spends moves all the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from assistant.messages import neutral_line
from assistant.spend import BudgetError, Ledger, dollars, parse_budget
from assistant.store import Store
from tools.orchestrator import OrchestratorError, builder_path
from tools.projectlist import ProjectListError, load_async
from tools.workspace import Workspace


class BudgetInvalid(Exception):
    """The budget change cannot be made at all (no such builder, not an amount, no state)."""


@dataclass(frozen=True)
class BudgetPlan:
    title: str
    body: str
    precondition: dict[str, Any]


@dataclass(frozen=True)
class BudgetChange:
    status: Literal["done", "stale", "failed"]
    summary: str
    details: dict[str, Any]


def _change(
    workspace: Workspace, store: Store | None, args: dict[str, Any]
) -> tuple[Ledger, str, float | None]:
    """The ledger, the builder and its new budget (None: lift it); BudgetInvalid when wrong."""
    if store is None:
        raise BudgetInvalid("budgets need Foreman's state, which this caller has not opened")
    name = str(args.get("name") or "")
    try:
        if not builder_path(workspace.root, name).is_dir():
            raise BudgetInvalid(f"no builder {name!r} under .builders/")
    except OrchestratorError as exc:
        raise BudgetInvalid(str(exc)) from exc
    usd = args.get("usd")
    try:
        return Ledger(store), name, None if usd is None else parse_budget(usd, "usd")
    except BudgetError as exc:
        raise BudgetInvalid(str(exc)) from exc


async def _in_force(workspace: Workspace, ledger: Ledger, name: str) -> tuple[str, list[Any]]:
    """The budget in force as the card shows it, and as the precondition compares it."""
    try:
        projects = (await load_async(workspace.projectlist_path, strict=False)).projects
    except ProjectListError:
        projects = ()
    try:
        budget = ledger.budget(name, projects)
    except BudgetError as exc:
        return f"invalid ({exc})", ["invalid", str(exc)]
    return budget.describe(), [budget.usd, budget.source]


async def plan_budget(
    workspace: Workspace, store: Store | None, args: dict[str, Any]
) -> BudgetPlan:
    ledger, name, usd = _change(workspace, store, args)
    now, precondition = await _in_force(workspace, ledger, name)
    spent = ledger.total(name)
    if usd is None:
        title = f"Lift the budget of builder {name}: no limit on what it spends"
    else:
        title = f"Set the budget of builder {name} to {dollars(usd)}"
    body = [f"Now: {now}; spent {spent.render()}"]
    if usd is not None and spent.cost >= usd:
        body.append(f"⚠ {dollars(usd)} is already spent: its prompts stay held")
    return BudgetPlan(
        neutral_line(title),
        "\n".join(neutral_line(line) for line in body),
        {"budget": precondition},
    )


async def set_budget(
    workspace: Workspace, store: Store | None, args: dict[str, Any], precondition: dict[str, Any]
) -> BudgetChange:
    try:
        ledger, name, usd = _change(workspace, store, args)
    except BudgetInvalid as exc:
        return BudgetChange("failed", f"Budget not changed: {exc}", {})
    _, now = await _in_force(workspace, ledger, name)
    if now != precondition.get("budget"):
        return BudgetChange(
            "stale", f"Budget not changed: {name}'s budget changed since the card", {}
        )
    ledger.set_budget(name, usd)
    said = "no limit" if usd is None else dollars(usd)
    return BudgetChange("done", f"Budget of {name}: {said}", {"builder": name, "usd": usd})

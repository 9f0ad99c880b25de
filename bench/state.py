"""State benchmark: `/approvals`, a yes/no reply and `/history` after months of use.

Run: python bench/state.py [--rounds 30] [--cards 10000]

Two stores, each with the demo workspace and a live card waiting: an empty one, and one
holding `--cards` resolved cards plus `--cards` cards that expired unanswered (written as a
version without the sweep left them: still `pending`, past their expiry), all the same
user's in the same chat. `/history` (the newest 10 exchanges) is timed on a builder with
10 exchanges against one with `--cards`. Each round times the same command against both,
order alternating; the figure is the median of the per-round ratios (full / empty), with the
interquartile range. The one-time sweep that marks the expired cards is timed on its own,
not in the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# `python bench/state.py` puts bench/ first on sys.path, where bench/assistant.py would shadow
# the `assistant` package: import the checkout's packages instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from assistant.dm import DirectMessages  # noqa: E402
from assistant.messages import ChatRef, Inbound, Principal  # noqa: E402
from assistant.relay import exchanges  # noqa: E402
from assistant.store import Store, open_store  # noqa: E402
from tools.orchestrator import make_demo_workspace  # noqa: E402

ADA = Principal("telegram", "111", "Ada")
CHAT = ChatRef("telegram", "111")
BUILDER = "0015-bench"


def dm(text: str) -> Inbound:
    return Inbound(chat=CHAT, sender=ADA, text=text, message_id="m1")


def fill(store: Store, cards: int, relayed: int) -> None:
    """`cards` resolved and `cards` expired-unanswered cards, and `relayed` exchanges."""
    now = datetime.now(UTC)
    chat_json = json.dumps(
        {"platform": "telegram", "chat_id": "111", "thread_id": None, "is_direct": True}
    )
    rows = []
    for i in range(2 * cards):
        resolved = i < cards
        created = now - timedelta(days=60) + timedelta(seconds=i)
        rows.append(
            (
                f"old{i:06d}",
                CHAT.key,
                ADA.key,
                "set_project_status",
                json.dumps({"id": "0015", "status": "implementing"}),
                "0015: planned → implementing\nold card",
                "{}",
                "rejected" if resolved else "pending",
                created.isoformat(),
                (created + timedelta(hours=24)).isoformat(),
                created.isoformat() if resolved else None,
                chat_json,
            )
        )
    events = []
    for i in range(relayed):
        events.append((BUILDER, "relay.forwarded", json.dumps({"text": f"prompt {i}"})))
        events.append((BUILDER, "relay.notification", json.dumps({"text": f"reply {i}"})))
    with store.transaction() as conn:
        conn.executemany(
            """INSERT INTO approvals (id, chat_key, principal, tool_name, args_json, card,
                 precondition_json, state, created_at, expires_at, resolved_at, chat_json)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        conn.executemany(
            "INSERT INTO builder_events (builder, session_id, at, type, event_json) "
            "VALUES (?, 's', 'then', ?, ?)",
            events,
        )


def service(root: Path, cards: int) -> DirectMessages:
    workspace = make_demo_workspace(root / "ws")
    store = open_store(root / "state")
    # the history baseline is a builder with just the 10 exchanges `/history` shows
    fill(store, cards, max(cards, 10))
    return DirectMessages(store, workspace, None, {ADA.key})


async def timed(svc: DirectMessages, text: str) -> float:
    started = time.perf_counter()
    await svc.handle(dm(text))
    return time.perf_counter() - started


async def approvals(svc: DirectMessages) -> float:
    return await timed(svc, "/approvals")


async def yes_no(svc: DirectMessages) -> float:
    await svc.handle(dm("/status 0015 implementing"))  # a live card to answer (untimed)
    return await timed(svc, "no")


async def history(svc: DirectMessages) -> float:
    started = time.perf_counter()
    exchanges(svc.store, BUILDER, last=10)
    return time.perf_counter() - started


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4)
    return f"median {statistics.median(values):.2f}x, IQR {q[0]:.2f}-{q[2]:.2f}"


async def main(rounds: int, cards: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        empty = service(Path(tmp) / "empty", 0)
        full = service(Path(tmp) / "full", cards)
        for svc in (empty, full):  # warm up; the full store's first read sweeps expired cards
            started = time.perf_counter()
            await svc.handle(dm("/approvals"))
            first = time.perf_counter() - started
        print(
            f"first /approvals on the full store (sweeps {cards} expired cards): "
            f"{first * 1e3:.1f} ms"
        )
        await empty.handle(dm("/status 0015 implementing"))  # one live card in each
        await full.handle(dm("/status 0015 implementing"))
        results: dict[str, tuple[list[float], list[float]]] = {}
        for name, op in (("approvals", approvals), ("yes_no", yes_no), ("history", history)):
            a_times, b_times = [], []
            for i in range(rounds):
                if i % 2 == 0:
                    a_times.append(await op(empty))
                    b_times.append(await op(full))
                else:
                    b_times.append(await op(full))
                    a_times.append(await op(empty))
            results[name] = (a_times, b_times)
    for name, (a_times, b_times) in results.items():
        ratios = [b / a for a, b in zip(a_times, b_times, strict=True)]
        print(
            f"{name}: new store median {statistics.median(a_times) * 1e3:.2f} ms, "
            f"store after months ({cards:,} resolved + {cards:,} expired cards, {cards:,} "
            f"exchanges) median "
            f"{statistics.median(b_times) * 1e3:.2f} ms; per-round ratio {spread(ratios)}"
        )
        results[name] = (ratios, [])
    for name, (ratios, _) in results.items():
        print(f"figure state_{name}_ratio {statistics.median(ratios):.2f} goal <= 2")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cards", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.cards))

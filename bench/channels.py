"""Channels benchmark: what the gateway adds on top of python-telegram-bot, and routing cost.

Run: python bench/channels.py [--n 40] [--rounds 40]
Both figures are ratios against a baseline measured in this run, A and B alternating (each
pair in both orders) so both see the same machine; medians with their interquartile range:

- DM round trip (fake Bot API on 127.0.0.1 -> long poll -> reply): Foreman's Telegram channel,
  gateway and router with an echoing assistant, vs a bare python-telegram-bot handler that
  replies directly.
- In-process routing: `Router.handle` for a principal's DM, vs calling the assistant directly.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo's tests/, for the fake

from assistant.channels.telegram import TelegramChannel
from assistant.gateway import AllowList, Gateway, Pairing, Router
from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.store import open_store
from tests.channels.fake_telegram import FakeTelegram

OWNER = 42


class Echo:
    async def handle(self, message: Inbound) -> list[Outbound]:
        return [Outbound(message.chat, f"echo {message.text}")]


async def round_trip(fake: FakeTelegram, text: str) -> float:
    started = time.perf_counter()
    fake.dm(OWNER, text)
    await asyncio.to_thread(fake.wait_for, "sendMessage", lambda p, t=text: p["text"].endswith(t))
    return time.perf_counter() - started


@asynccontextmanager
async def bare_ptb() -> AsyncIterator[FakeTelegram]:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, TypeHandler

    fake = FakeTelegram().start()

    async def reply(update: Update, context: Any) -> None:
        if update.message is not None and update.message.text:
            await update.message.reply_text(f"echo {update.message.text}")

    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(TypeHandler(Update, reply))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(timeout=1)
    try:
        yield fake
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        fake.close()


@asynccontextmanager
async def foreman(state: Path) -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram().start()
    store = open_store(state)
    router = Router(
        allow=AllowList.of(telegram=[str(OWNER)]), assistant=Echo(), pairing=Pairing(store)
    )
    gateway = Gateway(router, [TelegramChannel(fake.token, base_url=fake.base_url, poll_timeout=1)])
    await gateway.start()
    try:
        yield fake
    finally:
        await gateway.stop()
        fake.close()
        store.close()


async def round_trips(n: int, state: Path) -> tuple[list[float], list[float]]:
    """n round trips each, A and B alternating (and which goes first), both running all along."""
    async with bare_ptb() as bare, foreman(state) as ours:
        for i in range(3):  # warm up both: imports, first connections
            await round_trip(bare, f"warm {i}")
            await round_trip(ours, f"warm {i}")
        base, mine = [], []
        for i in range(n):
            pair = [(bare, base), (ours, mine)]
            for fake, times in pair if i % 2 == 0 else reversed(pair):
                times.append(await round_trip(fake, f"ping {i}"))
    return base, mine


async def routing(rounds: int, block: int, state: Path) -> list[float]:
    """Per round: a block of direct calls and a block through the Router, order alternating;
    the ratio of each round's pair."""
    store = open_store(state)
    echo = Echo()
    router = Router(
        allow=AllowList.of(telegram=[str(OWNER)]), assistant=echo, pairing=Pairing(store)
    )
    dm = Inbound(ChatRef("telegram", str(OWNER)), Principal("telegram", str(OWNER)), "hi")

    async def direct() -> float:
        started = time.perf_counter()
        for _ in range(block):
            await echo.handle(dm)
        return time.perf_counter() - started

    async def routed() -> float:
        started = time.perf_counter()
        for _ in range(block):
            await router.handle(dm)
        return time.perf_counter() - started

    ratios = []
    for i in range(rounds):
        if i % 2 == 0:
            a = await direct()
            b = await routed()
        else:
            b = await routed()
            a = await direct()
        ratios.append(b / a)
    store.close()
    return ratios


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4)
    return f"median {statistics.median(values):.2f}, IQR {q[0]:.2f}-{q[2]:.2f}"


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base, ours = await round_trips(n, Path(tmp) / "a")
        ratios = await routing(rounds, 250, Path(tmp) / "b")
    pairs = [o / b for b, o in zip(base, ours, strict=True)]
    print(
        f"DM round trip, {n} interleaved pairs: bare PTB median {statistics.median(base) * 1e3:.1f}"
        f" ms, Foreman median {statistics.median(ours) * 1e3:.1f} ms; per-pair ratio "
        f"{spread(pairs)}"
    )
    print(f"routing, {rounds} alternating blocks of 250 DMs: Router/direct {spread(ratios)}")
    print(f"figure channels_dm_round_trip_ratio {statistics.median(pairs):.2f} goal <= 1.2")
    print(f"figure channels_routing_ratio {statistics.median(ratios):.2f} goal <= {ROUTING_GOAL}")


# Routing a DM checks the allow list and the pairing state; the echo it is compared with does
# nothing, so the ratio is the Router's whole cost in units of a no-op call.
ROUTING_GOAL = 3


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))

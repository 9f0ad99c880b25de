"""Channels benchmark: what the gateway adds on top of python-telegram-bot, and routing cost.

Run: python bench/channels.py [--n 40]
Both figures are ratios against a baseline measured in this run:

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


async def round_trips(fake: FakeTelegram, n: int) -> list[float]:
    times = []
    for i in range(n):
        text = f"ping {i}"
        started = time.perf_counter()
        fake.dm(OWNER, text)
        await asyncio.to_thread(
            fake.wait_for, "sendMessage", lambda p, t=text: p["text"].endswith(t)
        )
        times.append(time.perf_counter() - started)
    return times


async def bare_ptb(n: int) -> list[float]:
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
        return await round_trips(fake, n)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        fake.close()


async def foreman(n: int, state: Path) -> list[float]:
    fake = FakeTelegram().start()
    store = open_store(state)
    router = Router(
        allow=AllowList.of(telegram=[str(OWNER)]), assistant=Echo(), pairing=Pairing(store)
    )
    gateway = Gateway(router, [TelegramChannel(fake.token, base_url=fake.base_url, poll_timeout=1)])
    await gateway.start()
    try:
        return await round_trips(fake, n)
    finally:
        await gateway.stop()
        fake.close()
        store.close()


async def routing(n: int, state: Path) -> tuple[float, float]:
    store = open_store(state)
    echo = Echo()
    router = Router(
        allow=AllowList.of(telegram=[str(OWNER)]), assistant=echo, pairing=Pairing(store)
    )
    dm = Inbound(ChatRef("telegram", str(OWNER)), Principal("telegram", str(OWNER)), "hi")
    started = time.perf_counter()
    for _ in range(n):
        await echo.handle(dm)
    direct = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(n):
        await router.handle(dm)
    routed = time.perf_counter() - started
    store.close()
    return direct, routed


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await bare_ptb(3)  # warm up imports and the event loop's first connections
        baseline = statistics.median(await bare_ptb(n))
        ours = statistics.median(await foreman(n, Path(tmp) / "a"))
        direct, routed = await routing(n * 250, Path(tmp) / "b")
    print(
        f"DM round trip, median of {n}: bare PTB {baseline * 1000:.1f} ms, "
        f"Foreman {ours * 1000:.1f} ms, ratio {ours / baseline:.2f}"
    )
    print(
        f"routing {n * 250} DMs in-process: direct {direct * 1000:.1f} ms, "
        f"via Router {routed * 1000:.1f} ms, ratio {routed / direct:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    asyncio.run(main(parser.parse_args().n))

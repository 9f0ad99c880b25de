"""Relay benchmark: forward latency vs a raw POST, and events classified per second.

Run: python bench/relay.py [--corpus ../shared/corpus] [--n 400]
Both figures are measured in this run against a baseline from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# `python bench/relay.py` puts bench/ first on sys.path, where bench/assistant.py would shadow
# the `assistant` package: import the checkout's packages instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import httpx  # noqa: E402

from assistant.messages import ChatRef, Inbound, Principal  # noqa: E402
from assistant.relay import Binding, Relay, read_stream, replay, save_binding  # noqa: E402
from assistant.store import open_store  # noqa: E402
from tools.opencode import OpenCodeClient, prompt_body  # noqa: E402

SESSION = "ses_bench"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as OpenCode's server does

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # the session list the relay reads once
        body = json.dumps([{"id": SESSION, "directory": self.server.directory, "title": "b"}])
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # prompt_async: read the body, answer 204
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


async def forward_latency(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".builders" / "0001-bench").mkdir(parents=True)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.directory = str(root / ".builders" / "0001-bench")  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        store = open_store(root / "state")
        save_binding(store, Binding("telegram", "-1", "0001-bench"), "bench")
        alice = Principal("telegram", "1", "Alice")
        chat = ChatRef("telegram", "-1", is_direct=False)
        text = "please run the test suite and fix what fails"
        async with OpenCodeClient(url) as client, httpx.AsyncClient(base_url=url) as raw:
            relay = Relay(store, client, root, principals={alice.key})
            message = Inbound(chat, alice, text)
            await relay.handle(message)  # warm up: session lookup, connections
            await raw.post(f"/session/{SESSION}/prompt_async", json=prompt_body(text))
            relayed, direct = [], []

            async def timed_relay() -> None:
                start = time.perf_counter()
                await relay.handle(message)
                relayed.append(time.perf_counter() - start)
                # the relay's history write runs in the background: finish it untimed, so it
                # does not slow the baseline's request
                await relay.flush_history()

            async def timed_raw() -> None:
                start = time.perf_counter()
                body = prompt_body(f"Alice: {text}")
                await raw.post(f"/session/{SESSION}/prompt_async", json=body)
                direct.append(time.perf_counter() - start)

            for i in range(n):  # interleaved, alternating order, so both see the same machine
                first, second = (timed_relay, timed_raw) if i % 2 == 0 else (timed_raw, timed_relay)
                await first()
                await second()
        server.shutdown()
        store.close()
        return statistics.median(relayed), statistics.median(direct)


def classify_rate(corpus: Path, rounds: int) -> tuple[float, int]:
    base = corpus / "opencode-1.18.33"
    events = list(read_stream(base / "event-stream.sse.txt"))
    events += list(read_stream(base / "global-event-stream.jsonl"))
    start = time.perf_counter()
    for _ in range(rounds):
        replay(events, retry_limit=5)
    elapsed = time.perf_counter() - start
    return len(events) * rounds / elapsed, len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--corpus", type=Path, default=Path(__file__).parents[2] / "shared" / "corpus"
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    relayed, direct = asyncio.run(forward_latency(args.n))
    ratio = relayed / direct
    print(
        f"forward latency: relay {relayed * 1e3:.3f} ms vs raw httpx POST {direct * 1e3:.3f} ms "
        f"(median of {args.n}) -> ratio {ratio:.2f}x (goal <= 1.2x)"
    )
    rate, count = classify_rate(args.corpus, args.rounds)
    print(
        f"classifier: {rate:,.0f} events/s over {count} recorded events x {args.rounds} rounds "
        f"(goal >= 50,000/s)"
    )


if __name__ == "__main__":
    main()

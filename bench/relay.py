"""Relay benchmark: CPU per event and forward latency, against a real `opencode serve`.

Run: python bench/relay.py [--corpus ../shared/corpus] [--rounds 7] [--n 150]

Each workspace has a real project list (`.ai/projectlist.md`) binding its builders' chats, and
real builder folders; the relay reads them as `foreman serve` does. Configurations:

- 1 builder bound (a 1-project list), 50 builders bound (a 50-project list), and 50 builders
  bound in a 1,000-project list.
- CPU per event: the recorded OpenCode stream of the corpus, rewritten to one bound builder's
  session, fed through the relay's event handling (classify, journal, deliver) for a little
  over a second per round, so each round includes the relay's once-a-second binding check.
  Rounds rotate through the configurations; figures are medians of per-round ratios.
- Forward latency: a chat message through the relay into a real `opencode serve` (driven by
  the fake LLM of the test suite) vs the same prompt POSTed straight to the same server,
  alternating A and B (and which goes first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

# `python bench/relay.py` puts bench/ first on sys.path, where bench/assistant.py would shadow
# the `assistant` package: import the checkout's packages instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import httpx  # noqa: E402

from assistant.messages import ChatRef, Inbound, Outbound, Principal  # noqa: E402
from assistant.relay import Relay, read_stream, replay  # noqa: E402
from assistant.store import open_store  # noqa: E402
from tests.opencode_server import FakeLLM, OpenCodeProcess, serve_fake_llm  # noqa: E402
from tools.opencode import Event, OpenCodeClient, find_opencode_binary, prompt_body  # noqa: E402

ALICE = Principal("telegram", "1", "Alice")
TEXT = "please run the test suite and fix what fails"
PASSWORD = "bench-secret"


def projectlist(total: int, bound: int) -> str:
    lines = ["# Projects", "", "```yaml", "projects:"]
    for i in range(1, total + 1):
        lines += [
            f'  - id: "{i:04d}"',
            f"    title: Project number {i}",
            "    status: implementing",
        ]
        lines += ["    description: A project among many, as a real list has them."]
        if i <= bound:
            lines += [
                "    chat_binding:",
                "      platform: telegram",
                f"      group_name: group{i}",
                f'      channel_id: "-{i}"',
            ]
    return "\n".join([*lines, "```", ""])


@dataclass
class Setup:
    name: str
    relay: Relay
    builder: str
    directory: str
    session: str
    events: list[Event]


async def setup(
    root: Path, name: str, total: int, bound: int, client: OpenCodeClient, recorded: list[Event]
) -> Setup:
    ws = root / name
    (ws / ".ai").mkdir(parents=True)
    (ws / ".ai" / "projectlist.md").write_text(projectlist(total, bound))
    for i in range(1, bound + 1):
        (ws / ".builders" / f"{i:04d}-project-{i}").mkdir(parents=True)
    relay = Relay(open_store(root / f"{name}-state"), client, ws, principals={ALICE.key})
    builder = "0001-project-1"
    assert relay.binding_for(ChatRef("telegram", "-1", is_direct=False)) is not None
    directory = relay.directory(builder)
    session = await relay.session_for(builder)
    assert session is not None
    return Setup(name, relay, builder, directory, session, retarget(recorded, session, directory))


def retarget(recorded: list[Event], session: str, directory: str) -> list[Event]:
    """The recording's busiest session's events, as `session`'s in `directory` (the other
    sessions' `session.created` would make the relay follow them instead)."""
    counts = Counter(e.session_id for e in recorded if e.session_id)
    old = counts.most_common(1)[0][0]
    out = []
    for event in recorded:
        if event.session_id != old:
            continue
        props = json.loads(json.dumps(event.properties).replace(old, session))
        out.append(replace(event, properties=props, directory=directory))
    return out


def classify_rate(recorded: list[Event], rounds: int) -> float:
    """Events per second through the fixed classification table alone (no I/O)."""
    start = time.perf_counter()
    for _ in range(rounds):
        replay(recorded, retry_limit=5)
    return len(recorded) * rounds / (time.perf_counter() - start)


async def no_send(message: Outbound) -> str | None:
    return "1"


async def cpu_round(s: Setup, seconds: float) -> float:
    """CPU seconds per event, feeding the stream for `seconds` of wall time."""
    count = 0
    wall = time.perf_counter()
    cpu = time.process_time()
    while time.perf_counter() - wall < seconds:
        for event in s.events:
            await s.relay.process(event, no_send)
        count += len(s.events)
    await s.relay.flush_history()
    return (time.process_time() - cpu) / count


async def latency_pairs(s: Setup, raw: httpx.AsyncClient, n: int, llm: FakeLLM) -> list[float]:
    chat = ChatRef("telegram", "-1", is_direct=False)
    message = Inbound(chat, ALICE, TEXT)
    params = {"directory": s.directory}
    sent = [len(llm.requests)]  # prompts sent: each makes the fake LLM answer once

    async def settle() -> None:
        """Untimed: until the server has finished the turn a prompt started, so each timed
        request meets an idle server, whichever of A and B went before."""
        await s.relay.flush_history()
        sent[0] += 1
        deadline = time.monotonic() + 30
        while len(llm.requests) < sent[0] or s.session in await s.relay.opencode.session_status(
            s.directory
        ):
            if time.monotonic() > deadline:
                raise SystemExit("Error: opencode serve did not finish a turn within 30 s")
            await asyncio.sleep(0.005)

    async def timed_relay() -> float:
        start = time.perf_counter()
        await s.relay.handle(message)
        took = time.perf_counter() - start
        await settle()
        return took

    async def timed_raw() -> float:
        start = time.perf_counter()
        body = prompt_body(f"Alice: {TEXT}")
        response = await raw.post(f"/session/{s.session}/prompt_async", params=params, json=body)
        took = time.perf_counter() - start
        assert response.status_code < 300, response.text
        await settle()
        return took

    await timed_relay()  # warm up both connections
    await timed_raw()
    ratios = []
    for i in range(n):
        if i % 2 == 0:
            a = await timed_relay()
            b = await timed_raw()
        else:
            b = await timed_raw()
            a = await timed_relay()
        ratios.append(a / b)
    return ratios


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=4)
    return f"median {statistics.median(values):.2f}x, IQR {q[0]:.2f}-{q[2]:.2f}"


async def run(args: argparse.Namespace) -> list[str]:
    base = args.corpus / "opencode-1.18.33"
    recorded = list(read_stream(base / "event-stream.sse.txt"))
    binary = find_opencode_binary()
    if binary is None:
        raise SystemExit("Error: no opencode binary (see README: install the pinned opencode).")
    figures: list[str] = []
    with serve_fake_llm() as llm, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = OpenCodeProcess(binary, root / "opencode-home", llm.url, PASSWORD)
        server.start()
        try:
            async with (
                OpenCodeClient(server.url, PASSWORD) as client,
                httpx.AsyncClient(
                    base_url=server.url, auth=httpx.BasicAuth("opencode", PASSWORD), timeout=30
                ) as raw,
            ):
                one = await setup(root, "one", 1, 1, client, recorded)
                fifty = await setup(root, "fifty", 50, 50, client, recorded)
                big = await setup(root, "fifty-in-1000", 1000, 50, client, recorded)
                configs = [one, fifty, big]
                cpu: dict[str, list[float]] = {c.name: [] for c in configs}
                for i in range(args.rounds):
                    for c in configs[i % 3 :] + configs[: i % 3]:  # rotate who goes first
                        cpu[c.name].append(await cpu_round(c, args.seconds))
                for c in configs:
                    print(
                        f"CPU per event, {c.name}: "
                        f"median {statistics.median(cpu[c.name]) * 1e3:.3f}"
                        f" ms over {args.rounds} rounds of {len(c.events)}-event replays"
                    )
                by_builders = [f / o for o, f in zip(cpu["one"], cpu["fifty"], strict=True)]
                by_list = [b / f for f, b in zip(cpu["fifty"], cpu["fifty-in-1000"], strict=True)]
                print(f"CPU per event, 50 builders / 1 builder: {spread(by_builders)}")
                print(f"CPU per event, 1,000-project list / 50-project list: {spread(by_list)}")
                figures.append(
                    f"figure relay_cpu_50_builders_vs_1 {statistics.median(by_builders):.2f} "
                    "goal <= 1.5"
                )
                figures.append(
                    f"figure relay_cpu_1000_projects_vs_50 {statistics.median(by_list):.2f} "
                    "goal <= 1.2"
                )
                for c, label in ((one, "1"), (fifty, "50")):
                    ratios = await latency_pairs(c, raw, args.n, llm)
                    print(
                        f"forward latency, {label} builder(s) bound: relay / raw POST to the "
                        f"same opencode serve, {args.n} pairs: {spread(ratios)}"
                    )
                    figures.append(
                        f"figure relay_forward_latency_{label}_builders "
                        f"{statistics.median(ratios):.2f} goal <= 1.2"
                    )
                for c in configs:
                    c.relay.store.close()
        finally:
            server.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path(__file__).parents[2] / "shared" / "corpus"
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.2)
    parser.add_argument("--n", type=int, default=150)
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    base = args.corpus / "opencode-1.18.33"
    recorded = list(read_stream(base / "event-stream.sse.txt"))
    recorded += list(read_stream(base / "global-event-stream.jsonl"))
    rate = classify_rate(recorded, 200)
    print(f"classifier alone: {rate:,.0f} events/s over {len(recorded)} recorded events x 200")
    figures.append(f"figure relay_classifier_events_per_second {rate:.0f} goal >= 50000")
    for line in figures:
        print(line)


if __name__ == "__main__":
    main()

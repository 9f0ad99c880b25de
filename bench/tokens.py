"""Benchmark what one chat costs in model input: tokens per request on a 1,000-project list.

A fake Anthropic API on 127.0.0.1 (tests/fake_provider.py) records every request body that the
real pydantic-ai Anthropic model sends. Each turn the user asks for the project list: the fake
model calls `list_projects`, then answers in one line, so every turn adds a listing to history.
A request's tokens are its body's bytes / 4 (instructions + tool schemas + history + tool
results, as sent). Reported: the largest request of turn 1 and of the steady state (turns
15 to TURNS), and requests served against requests `/usage` counted.

The figures are deterministic (no timing), so one run is the measurement; the same script run
on an older checkout gives the before figure: `python bench/tokens.py` there.

Run: python bench/tokens.py [--projects N] [--turns N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic_ai import models

from assistant.agent import prompt_chars
from assistant.dm import DirectMessages
from assistant.messages import ChatRef, Inbound, Principal
from assistant.store import open_store
from bench.projectlist import make_workspace
from tests.fake_provider import MODEL, Say, Use, serving
from tools.workspace import Workspace

USER = Principal("terminal", "bench", "bench")
CHAT = ChatRef("terminal", "bench")
STEADY_FROM = 15
GOAL_TOKENS = 6000
GOAL_PROMPT_CHARS = 8000


def _tokens(body: dict) -> int:
    return len(json.dumps(body, ensure_ascii=False).encode()) // 4


async def _chat(root: Path, projects: int, turns: int) -> tuple[list[int], int, int]:
    """Per-turn largest request (tokens), requests served, requests counted by /usage."""
    path = make_workspace(root / "ws", projects)
    workspace = Workspace(root=root / "ws", projectlist_path=path)
    svc = DirectMessages(open_store(root / "state"), workspace, MODEL, None)
    per_turn = []
    with serving() as fake:
        os.environ["ANTHROPIC_BASE_URL"] = fake.url
        for turn in range(1, turns + 1):
            fake.script(Use("list_projects", {}), Say(f"Here is the list ({turn})."))
            before = len(fake.requests)
            await svc.handle(Inbound(chat=CHAT, sender=USER, text="show me the projects"))
            per_turn.append(max(_tokens(body) for body in fake.requests[before:]))
        served = len(fake.requests)
    counted = svc.conversations.usage(CHAT.key).requests
    return per_turn, served, counted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-bench-not-a-real-key"
    # Every request goes to the fake provider on 127.0.0.1.
    models.ALLOW_MODEL_REQUESTS = True
    with tempfile.TemporaryDirectory() as tmp:
        per_turn, served, counted = asyncio.run(_chat(Path(tmp), args.projects, args.turns))
    steady = per_turn[STEADY_FROM - 1 :] or per_turn[-1:]
    chars = prompt_chars()
    print(f"{args.projects} projects, {args.turns} turns, a listing every turn")
    print("turn  largest request (tokens, bytes/4)")
    for turn, tokens in enumerate(per_turn, 1):
        print(f"{turn:>4}  {tokens:>8}")
    spread = f"{min(steady)}..{max(steady)}"
    print(f"steady state (turns {STEADY_FROM}+): median {statistics.median(steady):.0f}, {spread}")
    print(f"requests served {served}, counted by /usage {counted}")
    print(f"figure prompt_chars {chars} goal <= {GOAL_PROMPT_CHARS}")
    print(f"figure tokens_turn1 {per_turn[0]} goal <= {GOAL_TOKENS}")
    print(f"figure tokens_steady {max(steady)} goal <= {GOAL_TOKENS}")
    print(f"figure requests_uncounted {served - counted} goal <= 0")


if __name__ == "__main__":
    main()

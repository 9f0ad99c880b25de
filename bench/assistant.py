"""Benchmark the assistant's load on a model and the cost of a deterministic command.

Prints:
- prompt_chars: instructions + tool definitions sent with every request (budget 8,000);
- per seed flow, the model requests and tokens pydantic-ai counted for the scripted model
  (approvals add none: they run without a model call);
- the wall time of `/projects` against `foreman projects --json` run as a process, both
  measured here: in a warm chat service (what a channel pays per message) and cold (a fresh
  `foreman chat` process answering one `/projects`), with their ratios.

Run: python bench/assistant.py [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.agent import offline_model, prompt_chars
from assistant.demo import DEMO_CHAT, DEMO_USER
from assistant.dm import DirectMessages
from assistant.messages import Inbound
from assistant.store import open_store
from tools.orchestrator import make_demo_workspace

FLOWS: dict[str, list[str]] = {
    "show me all sessions": ["show me all sessions"],
    "start project 0015": ["I want to start working on project 0015", "approve all"],
    "wrap up 0014": ["wrap up 0014", "approve all"],
}


def _inbound(text: str = "", callback: str | None = None) -> Inbound:
    return Inbound(chat=DEMO_CHAT, sender=DEMO_USER, text=text, callback_data=callback)


async def _flow(root: Path, turns: list[str]) -> tuple[int, int, int, int]:
    workspace = make_demo_workspace(root / "ws")
    svc = DirectMessages(open_store(root / "state"), workspace, offline_model(), None)
    builder = await svc.orchestrator.create_builder("0014")
    (Path(builder.path) / "ai-dev" / "wip.txt").write_text("unsaved\n")
    approvals = 0
    for turn in turns:
        if turn == "approve all":
            for approval in svc.approvals.pending(chat_key=DEMO_CHAT.key):
                await svc.handle(_inbound(callback=f"approve:{approval.id}"))
                approvals += 1
            continue
        await svc.handle(_inbound(turn))
    usage = svc.conversations.usage(DEMO_CHAT.key)
    return usage.requests, usage.input_tokens, usage.output_tokens, approvals


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat

    chars = prompt_chars()
    print(f"prompt_chars: {chars} (budget 8000, {chars / 8000:.0%} used)")

    print("\nflow                      requests  input_tok  output_tok  approvals (0 requests)")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, turns) in enumerate(FLOWS.items()):
            requests, tokens_in, tokens_out, approvals = asyncio.run(
                _flow(Path(tmp) / f"flow{i}", turns)
            )
            print(f"{name:<25} {requests:>8}  {tokens_in:>9}  {tokens_out:>10}  {approvals:>9}")

        root = Path(tmp) / "projects"
        workspace = make_demo_workspace(root / "ws")
        svc = DirectMessages(open_store(root / "state"), workspace, None, None)
        loop = asyncio.new_event_loop()
        loop.run_until_complete(svc.handle(_inbound("/projects")))  # warm
        chat_s = _median_seconds(
            lambda: loop.run_until_complete(svc.handle(_inbound("/projects"))), repeat
        )
        loop.close()
        command = [
            sys.executable,
            "-m",
            "assistant",
            "projects",
            "--json",
            "--workspace",
            str(workspace.root),
        ]
        probe = subprocess.run(command, capture_output=True, text=True)
        print()
        print(f"/projects in the chat service: {chat_s * 1000:8.2f} ms (median of {repeat})")
        if probe.returncode != 0:
            print(f"foreman projects --json unavailable: {probe.stderr.strip()[-200:]}")
            return
        cli_s = _median_seconds(
            lambda: subprocess.run(command, capture_output=True, check=True), repeat
        )
        print(f"foreman projects --json:       {cli_s * 1000:8.2f} ms (median of {repeat})")
        print(f"ratio /projects : foreman projects --json = {chat_s / cli_s:.3f} (warm service)")
        # Cold, like the CLI: a fresh `foreman chat` process answering one /projects.
        chat_command = [
            sys.executable,
            "-m",
            "assistant",
            "chat",
            "--workspace",
            str(workspace.root),
        ]
        env = {**os.environ, "FOREMAN_STATE_DIR": str(root / "chat-state")}
        cold_s = _median_seconds(
            lambda: subprocess.run(
                chat_command, input=b"/projects\n", capture_output=True, check=True, env=env
            ),
            repeat,
        )
        print(f"echo /projects | foreman chat: {cold_s * 1000:8.2f} ms (median of {repeat})")
        print(f"ratio cold /projects : foreman projects --json = {cold_s / cli_s:.2f}")


if __name__ == "__main__":
    main()

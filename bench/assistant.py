"""Benchmark the assistant's load on a model and the cost of a deterministic command.

Prints:
- prompt_chars: instructions + tool definitions sent with every request (budget 8,000);
- per seed flow, the model requests and input/output tokens counted for the offline scripted
  model, fixed prompt (instructions + tool schemas) included; approvals make no request;
- `/projects` in the chat against `foreman projects --json`, like with like: both warm in this
  process (the chat service answering a DM against the CLI command run through click), and both
  cold as a new process (`foreman chat` answering one `/projects` against `foreman projects
  --json`). A and B alternate in every round; median and spread of the per-round ratios.

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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from click.testing import CliRunner

from assistant.agent import offline_model, prompt_chars
from assistant.cli import cli
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
# The chat adds a DM's dispatch and rendering to the same read: a little over the CLI.
GOAL_WARM = 1.5
GOAL_COLD = 1.3


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


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _paired(a: Callable[[], object], b: Callable[[], object], repeat: int) -> list[float]:
    """Per-round ratios a/b, the order flipped every round so neither always runs first."""
    ratios = []
    for i in range(repeat):
        if i % 2:
            tb, ta = _seconds(b), _seconds(a)
        else:
            ta, tb = _seconds(a), _seconds(b)
        ratios.append(ta / tb)
    return ratios


def _report(name: str, ratios: list[float], goal: float) -> str:
    median = statistics.median(ratios)
    print(f"{name}: median {median:.2f} (spread {min(ratios):.2f}..{max(ratios):.2f})")
    return f"figure {name} {median:.2f} goal <= {goal}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    repeat = parser.parse_args().repeat

    chars = prompt_chars()
    figures = [f"figure prompt_chars {chars} goal <= 8000"]
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
        runner = CliRunner()
        args = ["projects", "--json", "--workspace", str(workspace.root)]

        def chat_warm() -> None:
            loop.run_until_complete(svc.handle(_inbound("/projects")))

        def cli_warm() -> None:
            assert runner.invoke(cli, args).exit_code == 0

        chat_warm(), cli_warm()  # imports and first reads happen outside the measurement
        print()
        figures.append(
            _report("warm_projects_ratio", _paired(chat_warm, cli_warm, repeat), GOAL_WARM)
        )
        loop.close()

        env = {**os.environ, "FOREMAN_STATE_DIR": str(root / "chat-state")}
        chat_cmd = [sys.executable, "-m", "assistant", "chat", "--workspace", str(workspace.root)]
        cli_cmd = [sys.executable, "-m", "assistant", *args]

        def chat_cold() -> None:
            subprocess.run(chat_cmd, input=b"/projects\n", capture_output=True, check=True, env=env)

        def cli_cold() -> None:
            subprocess.run(cli_cmd, capture_output=True, check=True, env=env)

        figures.append(
            _report("cold_projects_ratio", _paired(chat_cold, cli_cold, repeat), GOAL_COLD)
        )
    print()
    print("\n".join(figures))


if __name__ == "__main__":
    main()

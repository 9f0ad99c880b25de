"""`foreman demo`: a scripted conversation through the real agent loop, offline.

The model is the offline scripted policy (assistant.agent.offline) that maps each user turn to
the tool calls a good model would make; everything else — the agent loop, approvals, the
project-list edit, git worktrees, the dirty-builder refusal — is the real code path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from assistant.messages import ButtonData, ChatRef, Inbound, Outbound, Principal

DEMO_USER = Principal("terminal", "demo", "you")
DEMO_CHAT = ChatRef("terminal", "demo")
DIRTY_PROJECT = "0014"


@dataclass
class DemoReport:
    workspace: Path
    state_dir: Path
    seconds: float
    requests: int


class DemoView(Protocol):
    """Where the demo shows itself; the CLI renders it on the terminal."""

    def user(self, text: str) -> None:
        """What the user says."""

    def note(self, text: str) -> None:
        """An aside about the workspace (paths, files on disk)."""

    def answers(self, out: list[Outbound]) -> None:
        """What Foreman answered."""


async def run_demo(root: Path, printer: DemoView) -> DemoReport:
    """Build the demo workspace under `root` and play the scripted conversation."""
    from assistant.agent import offline_model
    from assistant.dm import DirectMessages
    from assistant.store import default_state_dir, open_store
    from tools.orchestrator import make_demo_workspace

    started = time.perf_counter()
    workspace = make_demo_workspace(root / "workspace")
    # the workspace's own state, so `foreman chat` in it later carries on from here
    state_dir = default_state_dir(workspace.root)
    svc = DirectMessages(open_store(state_dir), workspace, offline_model(), {DEMO_USER.key})
    printer.note(f"demo workspace: {workspace.root}")
    printer.note(f"state: {state_dir}")

    # An earlier builder for 0014 whose agent left work that was never committed.
    builder = await svc.orchestrator.create_builder(DIRTY_PROJECT)
    notes = Path(builder.path) / "ai-dev" / "training-plan.md"
    notes.write_text("# Week 1\n- 3 x 10 min tempo\n")
    printer.note(f"builder {builder.name} has an uncommitted file: {notes.name}")

    counter = 0

    async def say(
        text: str = "", callback: str | None = None, shown: str | None = None
    ) -> list[Outbound]:
        nonlocal counter
        counter += 1
        printer.user(shown or text)
        out = await svc.handle(
            Inbound(
                chat=DEMO_CHAT,
                sender=DEMO_USER,
                text=text,
                message_id=f"demo-{counter}",
                callback_data=callback,
            )
        )
        printer.answers(out)
        return out

    def card_ids(out: list[Outbound]) -> list[str]:
        return [m.extra["approval_id"] for m in out if m.kind == "approval_card"]

    await say("show me all sessions")

    out = await say("I want to start working on project 0015")
    for approval_id in card_ids(out):
        await say(f"/approve {approval_id}")
    created = workspace.root / ".builders" / "0015-new-feature"
    if created.is_dir():
        printer.note(
            f"on disk: {created.relative_to(workspace.root)}/"
            f"{{{', '.join(sorted(p.name for p in created.iterdir()))}}}"
        )

    out = await say("wrap up 0014")
    refusal: list[Outbound] = []
    for approval_id in card_ids(out):
        refusal = await say(f"/approve {approval_id}")
    force = next((c for m in refusal for c in m.choices if c.data.startswith("force:")), None)
    if force is not None:
        printer.note(f"{notes.name} is still there: {notes.is_file()}")
        out = await say(callback=force.data, shown=f"[{force.label}]")
        for approval_id in card_ids(out):
            await say(callback=ButtonData("approve", approval_id).encode(), shown="[Approve]")

    await say("show me all sessions")
    await say("/usage")
    usage = svc.conversations.usage(DEMO_CHAT.key)
    return DemoReport(workspace.root, state_dir, time.perf_counter() - started, usage.requests)

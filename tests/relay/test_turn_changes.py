"""A builder's "Done" tells what its turn changed: the turn's diffstat, measured against a
snapshot of its real git worktrees taken when the turn started, and the files it made for the
user to look at, attached (bounded)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import pytest
from inline_snapshot import snapshot

from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.relay import Binding, Notification, Relay, exchanges, save_binding
from assistant.store import open_store
from assistant.turn_changes import MAX_FILES, TurnChanges, watch_turn_changes
from tests.opencode_server import FakeLLM, OpenCodeProcess, Text, ToolCall
from tools.opencode import OpenCodeClient
from tools.orchestrator import Builder, Orchestrator, make_demo_workspace
from tools.workspace import Workspace

ALICE = Principal("telegram", "100", "Alice")
GROUP = ChatRef("telegram", "-1001", is_direct=False)


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def done(reply: str) -> Notification:
    return Notification("ses_1:done", "ses_1", "complete", f"Done\n{reply}")


def git(worktree: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=worktree, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_demo_workspace(tmp_path / "ws")


@pytest.fixture
async def builder(workspace: Workspace) -> Builder:
    return await Orchestrator(workspace, backend="native").create_builder("0015")


async def test_done_counts_only_what_the_turn_changed_and_attaches_what_it_made(
    workspace: Workspace, builder: Builder
) -> None:
    ai_dev = builder.path / "ai-dev"
    (ai_dev / "notes.txt").write_text("left from yesterday\n")  # uncommitted before the turn
    (ai_dev / ".gitignore").write_text("out/\n")
    git(ai_dev, "add", ".gitignore")
    git(ai_dev, "commit", "-qm", "ignore out/")
    changes = TurnChanges(workspace.root)
    await changes.watch(builder.name, "prompting")
    await changes.watch(builder.name, "busy")

    # the turn: a new module committed, an edit left uncommitted, a report under the ignored
    # out/, a chart it names in its reply; yesterday's notes untouched
    (ai_dev / "limiter.py").write_text("def allow():\n    return True\n")
    git(ai_dev, "add", "limiter.py")
    git(ai_dev, "commit", "-qm", "limiter")
    (builder.path / "domain-apis" / "README.md").write_text("# domain-apis\n\nrate limits\n")
    (ai_dev / "out").mkdir()
    (ai_dev / "out" / "report.csv").write_text("route,limit\n/a,10\n")
    (ai_dev / "chart.png").write_bytes(PNG)
    extra = await changes.done_note(
        builder.name, done("Wrote out/report.csv; see ai-dev/chart.png and ../../etc/passwd.log")
    )

    assert extra is not None
    assert extra.text == snapshot("""\
📝 This turn: 3 files, +4 −0
  ai-dev: chart.png binary, limiter.py +2 −0
  domain-apis: README.md +2 −0\
""")
    assert [(f.filename, f.mime, f.data) for f in extra.files] == [
        ("report.csv", "text/csv", b"route,limit\n/a,10\n"),
        ("chart.png", "image/png", PNG),
    ]
    # each Done compares with its own turn's start; a Done without one adds nothing
    assert await changes.done_note(builder.name, done("again")) is None


async def test_a_turn_that_changed_nothing_says_so(workspace: Workspace, builder: Builder) -> None:
    changes = TurnChanges(workspace.root)
    (builder.path / "ai-dev" / "wip.py").write_text("x = 1\n")  # before the turn
    await changes.watch(builder.name, "busy")  # prompted from elsewhere: snapshot on busy
    extra = await changes.done_note(builder.name, done("Nothing to do."))
    assert extra is not None and (extra.text, extra.files) == (
        "📝 No files changed this turn.",
        (),
    )


async def test_files_past_the_bounds_are_named_not_attached(
    workspace: Workspace, builder: Builder
) -> None:
    changes = TurnChanges(workspace.root)
    await changes.watch(builder.name, "prompting")
    await changes.watch(builder.name, "busy")
    out = builder.path / "out"  # the builder's own folder, outside any worktree
    out.mkdir()
    for n in range(MAX_FILES + 2):
        (out / f"frame{n}.log").write_text(f"line {n}\n")
    (out / "empty.log").write_text("")
    extra = await changes.done_note(builder.name, done("Logs are in out/."))

    assert extra is not None
    assert [f.filename for f in extra.files] == [f"frame{n}.log" for n in range(MAX_FILES)]
    assert extra.text.splitlines()[-1] == snapshot(
        "📎 Not attached (over 5 files, 20.0 MB per Done): out/frame5.log (7 B), out/frame6.log (7 B)"
    )


async def test_worktrees_keep_their_index_head_and_files(
    workspace: Workspace, builder: Builder
) -> None:
    ai_dev = builder.path / "ai-dev"
    (ai_dev / "staged.py").write_text("a = 1\n")
    git(ai_dev, "add", "staged.py")
    (ai_dev / "untracked.py").write_text("b = 2\n")
    before = (git(ai_dev, "status", "--porcelain"), git(ai_dev, "rev-parse", "HEAD"))
    changes = TurnChanges(workspace.root)
    await changes.watch(builder.name, "busy")
    await changes.done_note(builder.name, done("ok"))
    assert (git(ai_dev, "status", "--porcelain"), git(ai_dev, "rev-parse", "HEAD")) == before


async def test_a_live_turn_is_done_with_its_diffstat_and_report(
    opencode_server: OpenCodeProcess,
    fake_llm: FakeLLM,
    workspace: Workspace,
    builder: Builder,
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "state")
    save_binding(store, Binding("telegram", GROUP.chat_id, builder.name), "test")
    relay = Relay(
        store,
        OpenCodeClient(opencode_server.url, password=opencode_server.password),
        workspace,
        principals={ALICE.key},
    )
    watch_turn_changes(relay, workspace.root)
    outbox: asyncio.Queue[Outbound] = asyncio.Queue()

    async def send(message: Outbound) -> str | None:
        await outbox.put(message)
        return None

    await relay.handle(Inbound(GROUP, ALICE, "/new"))
    running = asyncio.create_task(relay.run(send))
    try:
        async with asyncio.timeout(60):
            await relay.listening.wait()
        # the model runs a command in the builder's folder, then says what it wrote
        command = (
            "cd ai-dev && mkdir -p out && printf 'route,limit\\n/a,10\\n' > out/report.csv"
            " && printf 'def allow():\\n    return True\\n' > limiter.py"
        )
        fake_llm.script(
            ToolCall("bash", {"command": command, "description": "write"}),
            Text("Wrote ai-dev/out/report.csv and limiter.py."),
            when="rate limiter",
        )
        await relay.handle(Inbound(GROUP, ALICE, "write the rate limiter"))
        async with asyncio.timeout(90):
            while (message := await outbox.get()).extra["notification_kind"] != "complete":
                pass
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await relay.opencode.aclose()

    assert message.text == snapshot("""\
✅ Done
Wrote ai-dev/out/report.csv and limiter.py.
💰 This turn: $0.0001 · 30 tokens (20 in, 10 out)
📝 This turn: 2 files, +4 −0
  ai-dev: limiter.py +2 −0, out/report.csv +2 −0\
""")
    assert [(f.filename, f.data) for f in message.files] == [
        ("report.csv", b"route,limit\n/a,10\n")
    ]
    await relay.flush_history()
    (exchange,) = exchanges(store, builder.name)
    # the history names what was attached; the bytes stay in the worktree
    assert exchange.replies[-1].splitlines()[-1] == "📎 report.csv (18 B)"
    store.close()

"""The relay end to end: real `opencode serve`, a fake LLM, chat in, notifications out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot
from pydantic_ai.models.test import TestModel

from assistant.cli import cli
from assistant.gateway import Pairing, build_services, load_config, principal_keys
from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.relay import Binding, Relay, exchanges, save_binding
from assistant.store import Store, open_store
from tests.opencode_server import (
    FakeLLM,
    Garbage,
    HttpError,
    OpenCodeProcess,
    ToolCall,
    start_opencode,
)
from tools.opencode import OpenCodeClient
from tools.projectlist import ChatBinding, Project

BUILDER = "0014-ironman-training"
# the fake model's default answer: 10 tokens in, 5 out, at its price in OpenCode's config
DONE = "✅ Done\nHello from fake LLM\n💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)"
ASK_BASH = [{"permission": "bash", "pattern": "*", "action": "ask"}]
ALICE = Principal("telegram", "100", "Alice")  # the principal
BOB = Principal("telegram", "200", "Bob")  # a group member
GROUP = ChatRef("telegram", "-1001", is_direct=False)
OTHER = ChatRef("telegram", "-2002", is_direct=False)  # a second chat bound to the same builder
PROJECTLIST = """# Projects

```yaml
projects:
  - id: "0014"
    title: Ironman training planner
    status: implementing
```
"""


def bash(command: str) -> ToolCall:
    return ToolCall("bash", {"command": command, "description": "run"})


class Chat:
    """A bound group talking to a running relay; notifications land in `outbox`."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.outbox: asyncio.Queue[Outbound] = asyncio.Queue()
        self.seen: list[Outbound] = []

    async def send(self, message: Outbound) -> str | None:
        await self.outbox.put(message)
        return None

    async def say(self, text: str, sender: Principal = ALICE) -> list[Outbound]:
        return await self.relay.handle(Inbound(GROUP, sender, text))

    async def press(self, data: str, sender: Principal = ALICE) -> list[Outbound]:
        return await self.relay.handle(Inbound(GROUP, sender, callback_data=data))

    async def until(self, kind: str, timeout: float = 60) -> list[str]:
        """Notification kinds received up to and including the first `kind`."""
        kinds: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                message = await self.outbox.get()
                self.seen.append(message)
                kinds.append(message.extra["notification_kind"])
                if kinds[-1] == kind:
                    return kinds

    async def quiet(self, seconds: float = 0.5) -> list[str]:
        """Whatever else arrives within `seconds` (to prove nothing more was sent)."""
        await asyncio.sleep(seconds)
        kinds = []
        while not self.outbox.empty():
            message = self.outbox.get_nowait()
            self.seen.append(message)
            kinds.append(message.extra["notification_kind"])
        return kinds

    async def settle(self, timeout: float = 30) -> None:
        """Wait until the builder's session is idle on the server."""
        session_id = await self.relay.session_for(BUILDER, create=False)
        directory = self.relay.directory(BUILDER)
        async with asyncio.timeout(timeout):
            while session_id in await self.relay.opencode.session_status(directory):
                await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # one builder directory for the module: OpenCode loads an instance per directory (~3 s)
    root = tmp_path_factory.mktemp("workspace")
    (root / ".builders" / BUILDER).mkdir(parents=True)
    (root / ".ai").mkdir()
    (root / ".ai" / "projectlist.md").write_text(PROJECTLIST)  # no chat bindings declared
    return root


@contextlib.asynccontextmanager
async def running_relay(
    server: OpenCodeProcess,
    workspace: Path,
    tmp_path: Path,
    *,
    trigger: str = "all_messages",
    permission: list[dict[str, str]] | None = None,
    retry_limit: int = 5,
    new_session: bool = True,
    abort_on_exit: bool = True,
    bind: bool = True,
    build: Callable[[Store], Relay] | None = None,
) -> AsyncIterator[Chat]:
    store = open_store(tmp_path / "state")
    if bind:
        save_binding(store, Binding("telegram", GROUP.chat_id, BUILDER, trigger=trigger), "test")  # type: ignore[arg-type]
    if build is not None:
        relay = build(store)
    else:
        relay = Relay(
            store,
            OpenCodeClient(server.url, password=server.password),
            workspace,
            principals={ALICE.key},
            retry_limit=retry_limit,
            session_permission=permission,
            max_backoff=1.0,  # reconnect soon after a restarted server is back
        )
    client = relay.opencode
    chat = Chat(relay)
    if new_session:
        await chat.say("/new")
    task = asyncio.create_task(relay.run(chat.send))
    async with asyncio.timeout(60):  # generous: a loaded machine connects slowly
        await relay.listening.wait()
    try:
        yield chat
    finally:
        if task.done() and task.exception():
            raise AssertionError("the relay stopped") from task.exception()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        session_id = relay.current_session(BUILDER)
        if session_id and abort_on_exit:
            with contextlib.suppress(Exception):
                await client.abort(session_id)
        await client.aclose()
        store.close()


@pytest.fixture
async def chat(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> AsyncIterator[Chat]:
    async with running_relay(opencode_server, workspace, tmp_path) as chat:
        yield chat


async def test_a_text_answer_comes_back_as_done(chat: Chat, fake_llm: FakeLLM) -> None:
    assert await chat.say("Say hello") == []
    assert await chat.until("complete") == ["started", "complete"]
    assert chat.seen[-1].text == DONE
    assert "Alice: Say hello" in fake_llm.texts()
    assert await chat.quiet() == []
    await chat.relay.flush_history()
    (exchange,) = exchanges(chat.relay.store, BUILDER)
    assert exchange.prompt == "Alice: Say hello"
    assert exchange.replies == ("🔨 Started: Alice: Say hello", DONE)
    (reply,) = await chat.say("/history 1")
    assert reply.text.startswith("» Alice: Say hello")

    await chat.say("Say hello again")
    assert await chat.until("complete") == ["started", "complete"]
    await chat.relay.flush_history()
    runner = CliRunner()  # `foreman history` reads the store the relay wrote (FOREMAN_STATE_DIR)
    result = runner.invoke(cli, ["history", BUILDER])
    assert (result.exit_code, result.output) == (
        0,
        snapshot("""\
» Alice: Say hello
  🔨 Started: Alice: Say hello
  ✅ Done
  Hello from fake LLM
  💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)
» Alice: Say hello again
  🔨 Started: Alice: Say hello again
  ✅ Done
  Hello from fake LLM
  💰 This turn: $0.0001 · 15 tokens (10 in, 5 out)
"""),
    )
    result = runner.invoke(cli, ["history", BUILDER, "--last", "1", "--json"])
    assert result.exit_code == 0
    (record,) = [json.loads(line) for line in result.output.splitlines()]
    assert (record["prompt"], record["replies"]) == (
        "Alice: Say hello again",
        ["🔨 Started: Alice: Say hello again", DONE],
    )


async def test_bash_ok_is_quiet_and_exit_3_is_reported(chat: Chat, fake_llm: FakeLLM) -> None:
    fake_llm.script(bash("echo hello-from-bash"), when="first")
    await chat.say("first")
    assert await chat.until("complete") == ["started", "complete"]
    assert "hello-from-bash" in chat.seen[-1].text

    fake_llm.script(bash("echo failing >&2; exit 3"), when="second")
    await chat.say("second")
    assert await chat.until("complete") == ["started", "command_failed", "complete"]
    failed = chat.seen[-2]
    assert failed.text == "⚠️ Command failed (exit 3): echo failing >&2; exit 3\nfailing"


async def test_permission_allow_then_deny_with_a_reason(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    async with running_relay(opencode_server, workspace, tmp_path, permission=ASK_BASH) as chat:
        fake_llm.script(bash("echo approved-run"), when="approve me")
        await chat.say("approve me")
        assert await chat.until("permission") == ["started", "permission"]
        card = chat.seen[-1]
        assert card.text.startswith("🔒 Approval needed: bash `echo approved-run`")
        assert [c.label for c in card.choices] == ["Allow once", "Always allow", "Deny"]

        (refused,) = await chat.say("/allow", sender=BOB)
        assert refused.text == "Only the principal can answer approval requests."
        (allowed,) = await chat.say("/allow")
        assert allowed.text == "Allowed once: echo approved-run"
        assert await chat.until("complete") == ["complete"]
        assert "approved-run" in chat.seen[-1].text

        fake_llm.script(bash("rm -rf build"), when="clean up")
        await chat.say("clean up")
        assert await chat.until("permission") == ["started", "permission"]
        (denied,) = await chat.press(chat.seen[-1].choices[2].data)
        assert denied.text == "Denied: rm -rf build"
        assert await chat.until("complete") == ["complete"]

        fake_llm.script(bash("rm -rf dist"), when="again")
        await chat.say("again")
        await chat.until("permission")
        (denied,) = await chat.say("/deny not on the shared box")
        assert denied.text == "Denied: rm -rf dist (not on the shared box)"
        assert await chat.until("complete") == ["complete"]
        assert "not on the shared box" in fake_llm.texts()[-1]


async def test_a_question_is_answered_by_number(chat: Chat, fake_llm: FakeLLM) -> None:
    question = {
        "questions": [
            {
                "question": "Which color?",
                "header": "Color",
                "options": [
                    {"label": "Red", "description": "red"},
                    {"label": "Blue", "description": "blue"},
                ],
            }
        ]
    }
    fake_llm.script(ToolCall("question", question), when="pick")
    await chat.say("pick a color")
    assert await chat.until("question") == ["started", "question"]
    assert chat.seen[-1].text.startswith("❓ Color: Which color?")
    (answered,) = await chat.say("2")
    assert answered.text == "Answered: Blue"
    assert await chat.until("complete") == ["complete"]
    assert "Blue" in fake_llm.texts()[-1]


async def test_new_fork_compact_and_a_question_answered_by_button(
    chat: Chat, fake_llm: FakeLLM
) -> None:
    await chat.say("Say hello")
    await chat.until("complete")
    first = chat.relay.current_session(BUILDER)

    (compacted,) = await chat.say("/compact")
    assert compacted.text == "🗜 Compacted."
    # compaction is a turn of its own: OpenCode runs the model to write the summary
    assert await chat.until("complete") == ["started", "complete"]
    (forked,) = await chat.say("/fork")
    fork = chat.relay.current_session(BUILDER)
    assert fork != first and forked.text == f"🍴 Forked {first} into {fork}; now on the fork."

    question = {
        "questions": [
            {
                "question": "Deploy now?",
                "header": "Deploy",
                "options": [
                    {"label": "Yes", "description": "ship it"},
                    {"label": "No", "description": "wait"},
                ],
            }
        ]
    }
    fake_llm.script(ToolCall("question", question), when="ship")
    await chat.say("ship it?")
    assert await chat.until("question") == ["started", "question"]
    card = chat.seen[-1]
    assert card.extra["session_id"] == fork
    assert [c.label for c in card.choices] == ["Yes", "No"]
    (answered,) = await chat.press(card.choices[1].data, sender=BOB)
    assert answered.text == "Answered: No"
    assert await chat.until("complete") == ["complete"]

    (fresh,) = await chat.say("/new")
    assert chat.relay.current_session(BUILDER) not in (first, fork)
    assert fresh.text.startswith("🆕 New session ses_")


async def test_llm_500_is_reported_once_then_aborted_at_the_limit(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    async with running_relay(opencode_server, workspace, tmp_path, retry_limit=2) as chat:
        fake_llm.always(HttpError(500, "upstream down"))
        await chat.say("this will fail")
        assert await chat.until("error") == ["started", "error"]
        assert "upstream down" in chat.seen[-1].text and "retrying" in chat.seen[-1].text
        assert await chat.until("error") == ["error"]
        assert chat.seen[-1].text.startswith("❌ Gave up after 2 failed attempts")
        await chat.settle()
        fake_llm.always(None)
        assert await chat.quiet() == []


async def test_llm_400_is_an_error_not_done(chat: Chat, fake_llm: FakeLLM) -> None:
    fake_llm.script(HttpError(400, "bad request body"), when="broken")
    await chat.say("broken")
    assert await chat.until("error") == ["started", "error"]
    assert chat.seen[-1].text == "❌ APIError: bad request body"
    await chat.settle()
    assert await chat.quiet() == []


async def test_an_unparseable_model_stream_is_an_error_not_done(
    chat: Chat, fake_llm: FakeLLM
) -> None:
    fake_llm.script(Garbage(), when="garbled")
    await chat.say("garbled")
    assert await chat.until("error") == ["started", "error"]
    assert chat.seen[-1].text.startswith("❌ UnknownError: JSON parsing failed")
    await chat.settle()
    assert await chat.quiet() == []  # no "Done", and the repeated error is not told twice


async def test_stop_aborts_a_running_command_quietly(chat: Chat, fake_llm: FakeLLM) -> None:
    fake_llm.script(bash("sleep 30"), when="slow")
    await chat.say("slow job")
    await chat.until("started")
    await asyncio.sleep(1.0)  # the command is running
    (stopped,) = await chat.say("/stop")
    assert stopped.text == "⏹ Stopped."
    await chat.settle()
    assert await chat.quiet() == []  # no error for an abort, and no "done"


async def test_mention_mode_sends_the_missed_conversation_as_context(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    async with running_relay(opencode_server, workspace, tmp_path, trigger="mention") as chat:
        assert await chat.say("we should store runs in sqlite", sender=BOB) == []
        assert await chat.say("agreed, one table per athlete") == []
        await asyncio.sleep(0.3)
        assert fake_llm.requests == []  # nothing unaddressed reached the model
        await chat.say("hey opencode, draft the schema")
        assert await chat.until("complete") == ["started", "complete"]
        seen = "\n".join(fake_llm.texts())
        assert "Bob: we should store runs in sqlite" in seen
        assert "Alice: agreed, one table per athlete" in seen
        assert "Alice: hey opencode, draft the schema" in seen


async def test_status_reports_the_pending_permission(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    async with running_relay(opencode_server, workspace, tmp_path, permission=ASK_BASH) as chat:
        fake_llm.script(bash("make deploy"), when="deploy")
        await chat.say("deploy")
        await chat.until("permission")
        (status,) = await chat.say("/status")
        session_id = chat.relay.current_session(BUILDER)
        assert status.text.splitlines()[0] == f"{BUILDER} ({session_id}): busy"
        assert "🔒 Approval needed: bash `make deploy`" in status.text
        await chat.say("/deny")
        await chat.until("complete")


@pytest.mark.opencode  # starts its own server, to restart it
async def test_restarts_reannounce_pending_requests_once_and_duplicate_nothing(
    fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    server = start_opencode(fake_llm, tmp_path / "home")
    try:
        # 1. a permission asked while no relay runs is announced once when one starts
        async with running_relay(server, workspace, tmp_path, permission=ASK_BASH) as chat:
            session_id = chat.relay.current_session(BUILDER)
        fake_llm.script(bash("echo one"), when="one")
        builder_dir = str(workspace / ".builders" / BUILDER)
        async with OpenCodeClient(server.url, password=server.password) as client:
            await client.prompt_async(session_id, "one", directory=builder_dir)
            async with asyncio.timeout(20):
                while not await client.permissions(builder_dir):
                    await asyncio.sleep(0.1)
        async with running_relay(
            server, workspace, tmp_path, permission=ASK_BASH, new_session=False, abort_on_exit=False
        ) as chat:
            assert await chat.until("permission") == ["permission"]
            first_key = chat.seen[-1].extra["notification_key"]
            assert await chat.quiet() == []

        # 2. a relay restart does not announce it again (delivery state in the store)
        async with running_relay(
            server, workspace, tmp_path, permission=ASK_BASH, new_session=False
        ) as chat:
            assert await chat.quiet(1.0) == []

            # 3. the server dies mid-turn: the relay reconnects and says the turn was lost
            await asyncio.to_thread(server.restart)
            assert await chat.until("error", timeout=90) == ["error"]
            assert "interrupted" in chat.seen[-1].text

            # 4. the next permission is announced once; the old one never again
            fake_llm.script(bash("echo two"), when="two")
            await chat.say("two")
            assert await chat.until("permission") == ["started", "permission"]
            assert chat.seen[-1].extra["notification_key"] != first_key
            await chat.say("/allow")
            assert await chat.until("complete") == ["complete"]
            assert await chat.quiet() == []
    finally:
        server.stop()


async def test_relay_run_command_reads_chat_lines_and_prints_notifications(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path
) -> None:
    env = {
        **os.environ,
        "FOREMAN_OPENCODE_URL": opencode_server.url,
        "FOREMAN_OPENCODE_PASSWORD": opencode_server.password or "",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "assistant",
        "relay",
        "run",
        "--workspace",
        str(workspace),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdin and process.stdout
    lines: list[str] = []

    async def read_until(fragment: str) -> None:
        async with asyncio.timeout(90):  # generous: it is a new process on a loaded machine
            while not any(fragment in line for line in lines):
                lines.append((await process.stdout.readline()).decode())

    try:
        process.stdin.write(f"g1: /bind {BUILDER}\ng1: /new\ng1: Say hello\n".encode())
        await process.stdin.drain()
        await read_until("Hello from fake LLM")
        output = "".join(lines)
        assert f"g1: 🔗 This chat now talks to builder {BUILDER}." in output
        assert "g1: 🔨 Started: " in output
        assert "g1: ✅ Done\nHello from fake LLM" in output
        assert opencode_server.password not in output
    finally:
        process.terminate()
        await process.wait()


async def test_a_builder_bound_to_two_chats_answers_the_chat_that_asked(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    declared = Project(
        "0014",
        "Ironman training planner",
        "implementing",
        chat_binding=ChatBinding("telegram", channel_id=GROUP.chat_id),
    )

    def build(store: Store) -> Relay:
        client = OpenCodeClient(opencode_server.url, password=opencode_server.password)
        return Relay(store, client, workspace, {ALICE.key}, projects=lambda: [declared])

    async with running_relay(opencode_server, workspace, tmp_path, bind=False, build=build) as chat:
        (bound,) = await chat.relay.handle(Inbound(OTHER, ALICE, f"/bind {BUILDER}"))
        assert bound.text == f"🔗 This chat now talks to builder {BUILDER}."

        await chat.relay.handle(Inbound(OTHER, ALICE, "Say hello from the other chat"))
        assert await chat.until("complete") == ["started", "complete"]
        assert [m.chat.key for m in chat.seen] == [OTHER.key, OTHER.key]

        chat.seen.clear()
        await chat.say("Say hello from the declared chat")
        assert await chat.until("complete") == ["started", "complete"]
        assert [m.chat.key for m in chat.seen] == [GROUP.key, GROUP.key]

        # a turn no chat asked for (OpenCode's own UI, another client): every chat, once each
        chat.seen.clear()
        session_id = chat.relay.current_session(BUILDER)
        await chat.relay.opencode.prompt_async(session_id, "typed in the OpenCode UI")
        await chat.until("complete")
        await chat.until("complete")
        heard = sorted((m.chat.key, m.extra["notification_kind"]) for m in chat.seen)
        assert heard == [
            (GROUP.key, "complete"),
            (GROUP.key, "started"),
            (OTHER.key, "complete"),
            (OTHER.key, "started"),
        ]
        assert await chat.quiet() == []


async def test_a_user_paired_while_serving_may_allow_without_a_restart(
    opencode_server: OpenCodeProcess, fake_llm: FakeLLM, workspace: Path, tmp_path: Path
) -> None:
    config = load_config(
        None,
        env={
            "FOREMAN_WORKSPACE": str(workspace),
            "FOREMAN_TELEGRAM_TOKEN": "123:test-token",
            "FOREMAN_TELEGRAM_ALLOWED_USERS": ALICE.user_id,
            "FOREMAN_OPENCODE_URL": opencode_server.url,
            "FOREMAN_OPENCODE_PASSWORD": opencode_server.password or "",
        },
    )

    def build(store: Store) -> Relay:
        # the relay exactly as `foreman serve` builds it
        services = build_services(config, store, principal_keys(config, store), model=TestModel())
        services.relay.session_permission = ASK_BASH
        return services.relay

    async with running_relay(opencode_server, workspace, tmp_path, build=build) as chat:
        fake_llm.script(bash("echo paired-run"), when="run it")
        await chat.say("run it")
        assert await chat.until("permission") == ["started", "permission"]
        (refused,) = await chat.say("/allow", sender=BOB)
        assert refused.text == "Only the principal can answer approval requests."

        pairing = Pairing(chat.relay.store)  # what `foreman pairing approve` does meanwhile
        code = pairing.request(BOB)
        assert code is not None
        pairing.approve(code.code)

        (allowed,) = await chat.say("/allow", sender=BOB)
        assert allowed.text == "Allowed once: echo paired-run"
        assert await chat.until("complete") == ["complete"]

"""A Telegram forum topic per builder: made, greeted, bound, summarised and closed.

Real git builders (the demo workspace), the real Telegram channel on the fake Bot API, the real
state store; the builders are made and removed by the orchestrator, as `foreman builder create`
does it from another process, while the topics loop runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from git import Repo
from inline_snapshot import snapshot

from assistant.channels import ChannelError
from assistant.channels.telegram import TelegramChannel, TopicRefused
from assistant.cli import cli
from assistant.gateway import (
    ForumTopics,
    build_gateway,
    declared_projects,
    load_config,
    principal_keys,
)
from assistant.messages import ChatRef, Inbound, Outbound
from assistant.relay import Relay
from assistant.store import Store, open_store
from tests.channels.fake_telegram import FakeTelegram
from tests.channels.test_serve_command import read_until, start_serve
from tests.channels.waiting import eventually
from tests.opencode_server import FakeLLM, OpenCodeProcess
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator, make_demo_workspace
from tools.workspace import Workspace

OWNER = 42
# the demo project list binds project 0014 to this group, in `mention` mode
GROUP = -1001234567890
FIRST, SECOND = "0014-ironman-training", "0014-second"


@dataclass
class Setup:
    fake: FakeTelegram
    workspace: Workspace
    store: Store
    channel: TelegramChannel
    orchestrator: Orchestrator
    heard: list[Inbound] = field(default_factory=list)

    def topics(self, **kwargs: Any) -> ForumTopics:
        kwargs.setdefault("every_seconds", 0.05)
        topics = ForumTopics(
            self.channel,
            self.channel.send,
            self.store,
            self.workspace.root,
            lambda: declared_projects(self.workspace.projectlist_path),
            principals=lambda: [str(OWNER)],
            **kwargs,
        )
        self.channel.on_topic_gone = topics.topic_gone  # as `foreman serve` wires it
        return topics

    def relay(self) -> Relay:
        # binding lookups only: the OpenCode client is never contacted
        return Relay(self.store, OpenCodeClient("http://127.0.0.1:9"), self.workspace, {})

    def made(self) -> list[dict[str, Any]]:
        return [c for c in self.fake.sent("createForumTopic") if "_ok" in c]

    def said(self, thread: int | None = None) -> list[str]:
        return [
            p["text"]
            for p in self.fake.sent()
            if "_result" in p
            and p["chat_id"] == str(GROUP)
            and p.get("message_thread_id") == (str(thread) if thread else None)
        ]


@pytest.fixture
async def setup(fake_telegram: FakeTelegram, tmp_path: Path) -> AsyncIterator[Setup]:
    workspace = make_demo_workspace(tmp_path / "ws", taskfile=False)
    store = open_store(tmp_path / "state")
    channel = TelegramChannel(
        fake_telegram.token, base_url=fake_telegram.base_url, poll_timeout=1, retry_delays=()
    )
    found = Setup(fake_telegram, workspace, store, channel, Orchestrator(workspace))

    async def heard(message: Inbound) -> list[Outbound]:
        found.heard.append(message)
        return []

    await channel.start(heard)
    yield found
    await channel.stop()


async def running(topics: ForumTopics) -> asyncio.Task[None]:
    return asyncio.create_task(topics.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_each_builder_gets_its_own_topic_greeting_and_binding(setup: Setup) -> None:
    setup.fake.forum(GROUP)
    setup.fake.manages_topics.add(GROUP)
    loop = await running(setup.topics())
    try:
        await setup.orchestrator.create_builder("0014")
        await setup.orchestrator.create_builder("0014", name="second")
        await eventually(lambda: sum(t.greeted for t in topics_of(setup)) == 2)
    finally:
        await stop(loop)
    assert [c["name"] for c in setup.made()] == [FIRST, SECOND]
    first, second = (int(t.thread_id or 0) for t in topics_of(setup))
    assert first != second
    assert setup.fake.service_messages(GROUP, first) == ["forum_topic_created"]
    assert setup.said(first) == [
        snapshot("""\
🔨 Builder 0014-ironman-training for project 0014 "Ironman Training"
Repos: workspace-root, ai-dev
Branch: builder/0014-ironman-training
Messages that mention @opencode or hey opencode go to the builder; the rest is context.
/help lists the commands (/status, /diff, /stop, …).\
""")
    ]
    assert setup.said(second)[0].startswith("🔨 Builder 0014-second for project 0014")
    assert setup.said(None) == []  # nothing in the group itself

    # a message in each topic reaches that topic's builder; the group itself is no builder's
    relay = setup.relay()
    for thread in (first, second, None):
        update = setup.fake.group_message(GROUP, OWNER, "@opencode run the tests", thread)
        await asyncio.to_thread(setup.fake.wait_until_consumed, update)
    await eventually(lambda: len(setup.heard) == 3)
    bound = [relay.binding_for(m.chat) for m in setup.heard]
    assert [b.builder if b else None for b in bound] == [FIRST, SECOND, None]
    assert {b.trigger for b in bound if b} == {"mention"}
    # the project list is the user's: never edited
    assert "thread_id" not in setup.workspace.projectlist_path.read_text()


def topics_of(setup: Setup) -> list[Any]:
    return setup.topics().topics()


async def test_terminate_closes_the_topic_with_a_summary_and_a_restart_makes_none_again(
    setup: Setup,
) -> None:
    setup.fake.forum(GROUP)
    setup.fake.manages_topics.add(GROUP)
    await setup.orchestrator.create_builder("0014")
    await setup.orchestrator.create_builder("0014", name="second")
    topics = setup.topics()
    await topics.once()
    first = int(topics.topics(FIRST)[0].thread_id or 0)
    # what the relay's history knows about the first builder
    relay = setup.relay()
    relay.history.record(FIRST, "ses_1", "relay.forwarded", {"text": "@opencode add a test"})
    relay.history.record(
        FIRST, "ses_1", "relay.notification", {"text": "✅ Done: added test_plan.py\n\nmore"}
    )
    await relay.flush_history()

    # a restart: a new loop on the same state makes no second topic, says nothing twice
    again = setup.topics()
    await again.once()
    assert len(setup.made()) == 2
    assert len(setup.said(first)) == 1

    await setup.orchestrator.terminate_builder(FIRST)
    await again.once()
    said = setup.said(first)
    summary = said[1].splitlines()
    assert summary[0] == "🏁 Builder 0014-ironman-training was terminated."
    assert summary[1].startswith("Messages relayed: 1, the last at ")
    assert summary[2:] == snapshot(
        [
            "Last: ✅ Done: added test_plan.py  more",
            "This topic is closed now; what was said stays here.",
        ]
    )
    assert setup.fake.topics[GROUP][first] == "closed"
    assert setup.fake.service_messages(GROUP, first) == [
        "forum_topic_created",
        "forum_topic_closed",
    ]
    # its binding is gone; the second builder keeps its topic, the group stays no builder's
    topic_chat = ChatRef("telegram", str(GROUP), str(first), is_direct=False)
    await eventually(lambda: setup.relay().binding_for(topic_chat) is None)
    assert [t.state for t in again.topics()] == ["closed", "open"]
    assert setup.relay().binding_for(ChatRef("telegram", str(GROUP), is_direct=False)) is None
    await again.once()
    assert len(setup.fake.sent("closeForumTopic")) == 1  # closed once

    # the same builder made again (its kept branches deleted by hand) gets a new topic
    for repo in (setup.workspace.root, setup.workspace.root / "repos" / "ai-dev"):
        Repo(repo).git.branch("-D", f"builder/{FIRST}")
    await setup.orchestrator.create_builder("0014")
    await again.once()
    assert [c["name"] for c in setup.made()] == [FIRST, SECOND, FIRST]


async def test_a_group_without_topics_binds_the_builder_to_the_group_as_before(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.fake.plain_group(GROUP)
    await setup.orchestrator.create_builder("0014")
    topics = setup.topics()
    caplog.set_level(logging.INFO, "foreman.gateway.topics")
    await topics.once()
    await topics.once()
    refusals = setup.fake.sent("createForumTopic")
    assert [c["_error"] for c in refusals] == ["Bad Request: the chat is not a forum"]
    assert [t.state for t in topics.topics()] == ["group"]
    group = ChatRef("telegram", str(GROUP), is_direct=False)
    binding = setup.relay().binding_for(group)
    assert binding is not None and binding.builder == FIRST
    assert setup.fake.sent() == []  # nobody is told: this is the plain-group setup
    # terminated: nothing to close
    await setup.orchestrator.terminate_builder(FIRST)
    await topics.once()
    assert [t.state for t in topics.topics()] == ["closed"]
    assert setup.fake.sent("closeForumTopic") == []


async def test_without_the_manage_topics_right_the_principal_is_told_once(setup: Setup) -> None:
    setup.fake.forum(GROUP)  # the bot is no admin there
    await setup.orchestrator.create_builder("0014")
    topics = setup.topics()
    await topics.once()
    await setup.topics().once()  # a restart does not ask or tell again
    refusals = setup.fake.sent("createForumTopic")
    assert [c["_error"] for c in refusals] == ["Bad Request: not enough rights to create a topic"]
    told = [(p["chat_id"], p["text"]) for p in setup.fake.sent() if "_result" in p]
    assert told == [
        (
            str(OWNER),
            snapshot(
                '⚠️ Builder 0014-ironman-training has no topic of its own: give me the admin right "Manage topics" in group -1001234567890. It talks in the group itself for now.'
            ),
        )
    ]
    group = ChatRef("telegram", str(GROUP), is_direct=False)
    binding = setup.relay().binding_for(group)
    assert binding is not None and binding.builder == FIRST

    # with the right given, the next builder gets its topic
    setup.fake.manages_topics.add(GROUP)
    await setup.orchestrator.create_builder("0014", name="second")
    await topics.once()
    assert [c["name"] for c in setup.made()] == [SECOND]


async def test_a_failed_create_is_logged_and_tried_again_while_the_group_serves(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    setup.fake.forum(GROUP)
    setup.fake.manages_topics.add(GROUP)
    setup.fake.failures["createForumTopic"] = [(502, "Bad Gateway", None)]
    await setup.orchestrator.create_builder("0014")
    topics = setup.topics(retry_seconds=(0.0,))
    await topics.once()
    assert topics.topics() == []
    assert any("trying again" in r.getMessage() for r in caplog.records)
    group = ChatRef("telegram", str(GROUP), is_direct=False)
    binding = setup.relay().binding_for(group)
    assert binding is not None and binding.builder == FIRST  # it works in the group meanwhile
    await topics.once()
    assert [c["name"] for c in setup.made()] == [FIRST]
    assert [t.state for t in topics.topics()] == ["open"]


async def test_a_topic_closed_or_deleted_by_hand_still_gets_the_summary_in_the_group(
    setup: Setup,
) -> None:
    setup.fake.forum(GROUP)
    setup.fake.manages_topics.add(GROUP)
    await setup.orchestrator.create_builder("0014")
    await setup.orchestrator.create_builder("0014", name="second")
    topics = setup.topics()
    await topics.once()
    first = int(topics.topics(FIRST)[0].thread_id or 0)
    second = int(topics.topics(SECOND)[0].thread_id or 0)
    closed = setup.fake.close_topic_by_hand(GROUP, first, OWNER)
    setup.fake.delete_topic_by_hand(GROUP, second)
    # the service message of a hand-closed topic reaches no one
    await asyncio.to_thread(setup.fake.wait_until_consumed, closed)
    await setup.orchestrator.terminate_builder(FIRST)
    await setup.orchestrator.terminate_builder(SECOND)
    await topics.once()
    in_group = [line.splitlines()[0] for line in setup.said(None)]
    assert in_group == [
        "(topic closed) 🏁 Builder 0014-ironman-training was terminated.",
        "(topic not found) 🏁 Builder 0014-second was terminated.",
    ]
    assert [t.state for t in topics.topics()] == ["closed", "closed"]
    assert setup.heard == []
    assert setup.fake.topics[GROUP][first] == "closed"  # left as the principal made it


async def test_a_topic_deleted_by_hand_is_made_again_for_a_builder_still_there(
    setup: Setup,
) -> None:
    setup.fake.forum(GROUP)
    setup.fake.manages_topics.add(GROUP)
    await setup.orchestrator.create_builder("0014")
    topics = setup.topics()
    await topics.once()
    old = topics.topics(FIRST)[0].chat()
    setup.fake.delete_topic_by_hand(GROUP, int(old.thread_id or 0))
    # the relay's next notification for the builder finds the topic gone
    await setup.channel.send(Outbound(old, "✅ Done: tests pass", kind="notification"))
    assert setup.said(None) == ["(topic not found) ✅ Done: tests pass"]
    await topics.once()
    new = topics.topics(FIRST)[-1].chat()
    assert new.thread_id != old.thread_id
    assert [c["name"] for c in setup.made()] == [FIRST, FIRST]
    assert setup.said(int(new.thread_id or 0))[0].startswith("🔨 Builder 0014-ironman-training")
    relay = setup.relay()
    await eventually(lambda: relay.binding_for(old) is None)
    binding = relay.binding_for(new)
    assert binding is not None and binding.builder == FIRST
    assert [(t.state, t.thread_id) for t in topics.topics()] == [
        ("closed", old.thread_id),
        ("open", new.thread_id),
    ]


async def test_the_channel_refuses_topics_as_telegram_does(setup: Setup) -> None:
    setup.fake.plain_group(-100777)
    with pytest.raises(TopicRefused) as refused:
        await setup.channel.create_topic("-100777", "x")
    assert (refused.value.reason, refused.value.detail) == (
        "not_forum",
        "The chat is not a forum",
    )
    setup.fake.forum(GROUP)
    with pytest.raises(TopicRefused) as refused:
        await setup.channel.create_topic(str(GROUP), "x")
    assert refused.value.reason == "no_rights"
    setup.fake.manages_topics.add(GROUP)
    chat = await setup.channel.create_topic(str(GROUP), "y" * 200)
    assert setup.fake.topic_name(GROUP, int(chat.thread_id or 0)) == "y" * 128
    assert await setup.channel.close_topic(chat) is True
    assert await setup.channel.close_topic(chat) is False  # closed already
    await setup.channel.send(Outbound(chat, "into the closed topic"))
    assert setup.said(None) == ["(topic closed) into the closed topic"]
    assert setup.channel.app is not None
    thread = int(chat.thread_id or 0)
    assert await setup.channel.app.bot.reopen_forum_topic(GROUP, thread) is True
    await setup.channel.send(Outbound(chat, "open again"))
    assert setup.said(thread) == ["open again"]
    assert setup.fake.service_messages(GROUP, thread) == [
        "forum_topic_created",
        "forum_topic_closed",
        "forum_topic_reopened",
    ]
    setup.fake.failures["createForumTopic"] = [(500, "Internal Server Error", None)]
    with pytest.raises(ChannelError):
        await setup.channel.create_topic(str(GROUP), "z")


def test_a_builder_made_from_the_cli_while_serve_runs_gets_its_topic(
    fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    workspace = make_demo_workspace(tmp_path / "ws", taskfile=False)
    fake_telegram.forum(GROUP)
    fake_telegram.manages_topics.add(GROUP)
    env = {
        **os.environ,
        "FOREMAN_WORKSPACE": str(workspace.root),
        "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
        "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
        "FOREMAN_TELEGRAM_ALLOWED_USERS": str(OWNER),
        "FOREMAN_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("FOREMAN_OPENCODE_URL", None)
    process, lines = start_serve(env)
    try:
        read_until(lines, "foreman serve: telegram")
        shell = {
            "FOREMAN_WORKSPACE": str(workspace.root),
            "FOREMAN_STATE_DIR": env["FOREMAN_STATE_DIR"],
        }
        made = CliRunner().invoke(cli, ["builder", "create", "0014", "--yes"], env=shell)
        assert made.exit_code == 0, made.output
        greeting = fake_telegram.wait_for(
            "sendMessage", lambda p: "_result" in p and p["text"].startswith("🔨 Builder")
        )
        created = fake_telegram.wait_for("createForumTopic", lambda p: "_ok" in p)
        assert created["name"] == FIRST
        assert fake_telegram.topic_name(GROUP, int(greeting["message_thread_id"])) == FIRST
        gone = CliRunner().invoke(cli, ["builder", "terminate", FIRST, "--yes"], env=shell)
        assert gone.exit_code == 0, gone.output
        closed = fake_telegram.wait_for("closeForumTopic", lambda p: "_ok" in p)
        assert closed["message_thread_id"] == greeting["message_thread_id"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    summary = [p["text"] for p in fake_telegram.sent() if p["text"].startswith("🏁")]
    assert summary[0].splitlines()[:2] == [
        "🏁 Builder 0014-ironman-training was terminated.",
        "No message was relayed to it here.",
    ]


async def test_a_builder_talks_in_its_topic_through_opencode_and_ends_there(
    fake_telegram: FakeTelegram,
    opencode_server: OpenCodeProcess,
    fake_llm: FakeLLM,
    tmp_path: Path,
) -> None:
    workspace = make_demo_workspace(tmp_path / "ws", taskfile=False)
    store = open_store(tmp_path / "state")
    fake_telegram.forum(GROUP)
    fake_telegram.manages_topics.add(GROUP)
    config = load_config(
        None,
        env={
            "FOREMAN_TELEGRAM_TOKEN": fake_telegram.token,
            "FOREMAN_TELEGRAM_BASE_URL": fake_telegram.base_url,
            "FOREMAN_TELEGRAM_ALLOWED_USERS": str(OWNER),
        },
    )
    client = OpenCodeClient(opencode_server.url, password=opencode_server.password)
    relay = Relay(
        store,
        client,
        workspace,
        principals=set(principal_keys(config, store)),
        projects=lambda: declared_projects(workspace.projectlist_path),
    )
    gateway = build_gateway(config, store, relay=relay, closers=[client.aclose])
    telegram = gateway.channels["telegram"]
    topics = ForumTopics(
        telegram,  # type: ignore[arg-type]
        gateway.send,
        store,
        workspace.root,
        lambda: declared_projects(workspace.projectlist_path),
        principals=lambda: [str(OWNER)],
        every_seconds=0.05,
        bind=relay.bound.bind,
    )
    gateway.background = (*gateway.background, topics.run)
    orchestrator = Orchestrator(workspace, opencode=client)
    await gateway.start()
    try:
        await eventually(lambda: relay.listening.is_set())
        await orchestrator.create_builder("0014")
        greeting = await asyncio.to_thread(
            fake_telegram.wait_for, "sendMessage", lambda p: p["text"].startswith("🔨 Builder")
        )
        thread = int(greeting["message_thread_id"])
        fake_telegram.group_message(GROUP, OWNER, "@opencode Say hello", thread_id=thread)
        # the Done takes the place of the turn's Started message, which was sent in the topic
        done = await asyncio.to_thread(
            fake_telegram.wait_for, "editMessageText", lambda p: p["text"].startswith("✅"), 60.0
        )
        started = next(
            p
            for p in fake_telegram.sent()
            if p.get("_result", {}).get("message_id") == int(done["message_id"])
        )
        assert started["message_thread_id"] == str(thread)
        assert done["text"].startswith("✅ Done\nHello from fake LLM")
        await relay.flush_history()
        await orchestrator.terminate_builder(FIRST)
        await asyncio.to_thread(fake_telegram.wait_for, "closeForumTopic", lambda p: "_ok" in p)
    finally:
        await gateway.stop()
    (summary,) = [p["text"] for p in fake_telegram.sent() if p["text"].startswith("🏁")]
    lines = summary.splitlines()
    assert lines[1].startswith("Messages relayed: 1, the last at ")
    assert lines[2].startswith("Last: ✅ Done Hello from fake LLM")
    assert fake_telegram.topics[GROUP][thread] == "closed"

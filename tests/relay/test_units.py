"""Relay pieces that need no server: triggers, formatting, bindings, delivery state, history."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from assistant.messages import ChatRef, Inbound, Outbound, Principal
from assistant.relay import (
    Binding,
    Notification,
    Relay,
    failed_deliveries,
    match_answer,
    save_binding,
)
from assistant.store import Store, open_store
from tools.opencode import OpenCodeClient, Question, QuestionItem, QuestionOption

ALICE = Principal("telegram", "100", "Alice")
BOB = Principal("telegram", "200", "Bob")
GROUP = ChatRef("telegram", "-1001", is_direct=False)
BUILDER = "0014-ironman-training"

PROJECTLIST = """# Projects

```yaml
projects:
  - id: "0014"
    title: Ironman training planner
    status: implementing
    chat_binding:
      platform: telegram
      group_name: ironman
      channel_id: "-1001"
      trigger: mention
      mention_patterns: ["@opencode"]
  - id: "0015"
    title: No chat
    status: conceived
```
"""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path / "state")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ws" / ".ai").mkdir(parents=True)
    (tmp_path / "ws" / ".ai" / "projectlist.md").write_text(PROJECTLIST)
    (tmp_path / "ws" / ".builders" / BUILDER).mkdir(parents=True)
    return tmp_path / "ws"


@pytest.fixture
def relay(store: Store, workspace: Path) -> Relay:
    # no request reaches this address in these tests
    client = OpenCodeClient("http://127.0.0.1:9")
    return Relay(store, client, workspace, principals={ALICE.key}, retry_limit=3)


def test_triggers_pick_what_is_addressed_to_the_builder() -> None:
    mention = Binding("telegram", "1", "b", trigger="mention", patterns=("@opencode",))
    prefix = Binding("telegram", "1", "b", trigger="prefix")
    everything = Binding("telegram", "1", "b")
    assert mention.addressed("@OpenCode fix the build") == "@OpenCode fix the build"
    assert mention.addressed("lunch?") is None
    assert prefix.addressed("/code run the tests") == "run the tests"
    assert prefix.addressed("!opencode status") == "status"
    assert prefix.addressed("run the tests") is None
    assert everything.addressed("anything") == "anything"


def test_project_list_bindings_resolve_to_the_builder_directory(relay: Relay) -> None:
    binding = relay.binding_for(GROUP)
    assert binding is not None
    assert (binding.builder, binding.trigger, binding.patterns, binding.source) == (
        BUILDER,
        "mention",
        ("@opencode",),
        "projectlist",
    )
    assert relay.binding_for(ChatRef("telegram", "-999", is_direct=False)) is None


def test_a_stored_binding_to_an_unsafe_builder_name_is_ignored(relay: Relay) -> None:
    chat = ChatRef("whatsapp", "777@g.us", is_direct=False)
    save_binding(relay.store, Binding("whatsapp", "777@g.us", "../outside"), created_by="x")
    assert relay.binding_for(chat) is None


async def test_bind_is_for_the_principal_and_needs_an_existing_builder(
    relay: Relay, workspace: Path
) -> None:
    other = ChatRef("whatsapp", "123@g.us", is_direct=False)
    (refused,) = await relay.handle(Inbound(other, BOB, f"/bind {BUILDER}"))
    assert refused.text == "Only the principal can bind this chat to a builder."
    (missing,) = await relay.handle(Inbound(other, ALICE, "/bind 0099-nothing"))
    assert missing.text == "No builder '0099-nothing' under .builders/."
    (escape,) = await relay.handle(Inbound(other, ALICE, "/bind ../etc"))
    assert escape.text.startswith("Usage: /bind")
    assert relay.binding_for(other) is None
    (bound,) = await relay.handle(Inbound(other, ALICE, f"/bind {BUILDER} prefix"))
    assert bound.text == f"🔗 This chat now talks to builder {BUILDER}."
    binding = relay.binding_for(other)
    assert binding is not None and (binding.builder, binding.trigger) == (BUILDER, "prefix")


def test_question_answers_by_number_or_label() -> None:
    question = Question(
        "que_1",
        "ses_1",
        (QuestionItem("Which color?", "Color", (QuestionOption("Red"), QuestionOption("Blue"))),),
    )
    assert match_answer(question, "2") == "Blue"
    assert match_answer(question, "red") == "Red"
    assert match_answer(question, "3") is None
    assert match_answer(question, "green") is None


async def test_a_failed_delivery_is_recorded_and_sent_on_the_next_try(relay: Relay) -> None:
    notification = Notification("permission:per_9", "ses_9", "permission", "Approval needed")
    sent: list[Outbound] = []

    async def broken(message: Outbound) -> str | None:
        raise ConnectionError("telegram unreachable")

    async def working(message: Outbound) -> str | None:
        sent.append(message)
        return "m1"

    assert await relay.deliver(BUILDER, notification, broken) is False
    (failed,) = failed_deliveries(relay.store)
    assert failed["notification_key"] == "permission:per_9"
    assert "telegram unreachable" in failed["error"]

    assert await relay.deliver(BUILDER, notification, working) is True
    assert [m.text for m in sent] == ["🔒 Approval needed"]
    assert failed_deliveries(relay.store) == []
    # delivered once: a resync re-deriving it sends nothing
    assert await relay.deliver(BUILDER, notification, working) is False
    assert len(sent) == 1


def test_history_of_an_unknown_builder_or_a_bad_count_is_refused() -> None:
    # what a relayed exchange looks like is pinned where a real relay makes one (test_live)
    runner = CliRunner()
    missing = runner.invoke(cli, ["history", "0099-nothing"])
    assert (missing.exit_code, missing.stderr) == (
        1,
        "Error: no builder 0099-nothing and nothing relayed for it (foreman builder list)\n",
    )
    bad = runner.invoke(cli, ["history", BUILDER, "--last", "0"])
    assert bad.exit_code == 2


async def test_a_notification_that_could_not_be_delivered_is_reported_in_that_chat(
    relay: Relay,
) -> None:
    started = Notification("ses_1:started:e1", "ses_1", "started", "Started: Alice: run the tests")
    done = Notification("ses_1:complete:e9", "ses_1", "complete", "Done\nall green")
    later = Notification("ses_1:started:e12", "ses_1", "started", "Started: Alice: and lint")
    sent: list[Outbound] = []
    reachable = False

    async def send(message: Outbound) -> str | None:
        if not reachable:
            raise ConnectionError("telegram unreachable")
        sent.append(message)
        return None

    assert await relay.deliver(BUILDER, started, send) is False
    reachable = True
    assert await relay.deliver(BUILDER, done, send) is True
    assert [(m.chat.key, m.text) for m in sent] == snapshot(
        [
            ("telegram:-1001", "✅ Done\nall green"),
            (
                "telegram:-1001",
                """\
⚠️ 1 earlier notification could not be delivered here:
• 🔨 Started: Alice: run the tests
/history shows what the builder said.\
""",
            ),
        ]
    )
    # told once: the next notification comes alone
    assert await relay.deliver(BUILDER, later, send) is True
    assert [m.text for m in sent[2:]] == ["🔨 Started: Alice: and lint"]
    (failed,) = failed_deliveries(relay.store)
    assert (failed["notification_key"], failed["chat_key"]) == (started.key, "telegram:-1001")
    assert failed["reported_at"] is not None


async def test_deliveries_recorded_before_the_per_chat_table_are_not_sent_again(
    tmp_path: Path, workspace: Path
) -> None:
    from assistant.store.migrations import MIGRATIONS, m008_deliveries_per_chat

    (tmp_path / "old").mkdir()
    conn = sqlite3.connect(tmp_path / "old" / "foreman.db", isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for step in MIGRATIONS[: MIGRATIONS.index(m008_deliveries_per_chat)]:
        step(conn)
        conn.execute("INSERT INTO _migrations VALUES (?, 'then')", (step.__name__,))
    conn.execute(
        "INSERT INTO deliveries VALUES ('permission:per_1', 'ses_1', 'permission', 'sent', "
        "NULL, '2026-11-21T00:00:00')"
    )
    conn.close()
    store = open_store(tmp_path / "old")
    relay = Relay(store, OpenCodeClient("http://127.0.0.1:9"), workspace, principals={ALICE.key})
    sent: list[Outbound] = []

    async def send(message: Outbound) -> str | None:
        sent.append(message)
        return None

    old = Notification("permission:per_1", "ses_1", "permission", "Approval needed: old")
    new = Notification("permission:per_2", "ses_1", "permission", "Approval needed: new")
    assert await relay.deliver(BUILDER, old, send) is False
    assert await relay.deliver(BUILDER, new, send) is True
    assert [m.text for m in sent] == ["🔒 Approval needed: new"]


def test_relay_run_finds_the_workspace_like_every_other_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FOREMAN_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["relay", "run"], input="")
    assert result.exit_code == 1
    # before, it silently used the current directory and started with no bindings
    assert result.output.startswith("Error: no .ai/projectlist.md or codev/projectlist.md in ")
    assert result.output.endswith(
        "or any parent; pass --workspace DIR or --file PATH, or set FOREMAN_WORKSPACE\n"
    )


def test_a_group_that_became_a_supergroup_keeps_its_builder(relay: Relay, workspace: Path) -> None:
    listed = workspace / ".ai" / "projectlist.md"
    before = listed.read_bytes()
    stored = ChatRef("telegram", "-2002", is_direct=False)
    relay.bound.bind(Binding("telegram", "-2002", BUILDER), created_by=ALICE.key)
    relay.chat_moved("telegram", "-1001", "-1001001")  # the project list's chat
    relay.chat_moved("telegram", "-2002", "-1002002")  # a /bind one
    assert relay.binding_for(GROUP) is None and relay.binding_for(stored) is None
    moved = relay.binding_for(ChatRef("telegram", "-1001001", is_direct=False))
    assert moved is not None and (moved.builder, moved.trigger) == (BUILDER, "mention")
    rebound = relay.binding_for(ChatRef("telegram", "-1002002", is_direct=False))
    assert rebound is not None and rebound.builder == BUILDER
    # the user's project list is never rewritten for them
    assert listed.read_bytes() == before


def _eventually(check: object, seconds: float = 10.0) -> None:
    """Wait on a condition with a deadline (the relay re-checks its bindings once a second)."""
    import time

    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.05)


def test_a_binding_made_elsewhere_is_seen_without_a_restart(relay: Relay) -> None:
    chat = ChatRef("whatsapp", "555@g.us", is_direct=False)
    assert relay.binding_for(chat) is None
    # another process (`foreman relay bind`, a second serve) writes the store directly
    save_binding(open_store(relay.store.path.parent), Binding("whatsapp", "555@g.us", BUILDER), "x")
    _eventually(lambda: relay.binding_for(chat) is not None)
    assert relay.binding_for(chat).builder == BUILDER  # type: ignore[union-attr]


def test_a_project_list_edit_rebinds_without_a_restart(relay: Relay, workspace: Path) -> None:
    moved = ChatRef("telegram", "-2002", is_direct=False)
    assert relay.binding_for(GROUP) is not None
    path = workspace / ".ai" / "projectlist.md"
    path.write_text(PROJECTLIST.replace('"-1001"', '"-2002"'))
    _eventually(lambda: relay.binding_for(moved) is not None)
    assert relay.binding_for(GROUP) is None


def test_lookups_reuse_the_index_while_nothing_changes(relay: Relay) -> None:
    for _ in range(1000):
        assert relay.binding_for(GROUP) is not None
    assert relay.bound.rebuilds == 1


def test_history_returns_the_newest_exchanges_with_their_replies(store: Store) -> None:
    from assistant.relay import exchanges

    rows = [("relay.notification", {"text": "left over from before"})]
    for i in range(30):
        rows.append(("relay.forwarded", {"text": f"prompt {i}"}))
        rows += [("relay.notification", {"text": f"reply {i}.{j}"}) for j in range(2)]
    rows.append(("session.idle", {}))  # not an exchange: never shown
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO builder_events (builder, session_id, at, type, event_json) "
            "VALUES (?, 's', 'now', ?, ?)",
            [(BUILDER, kind, json.dumps(body)) for kind, body in rows],
        )
    newest = exchanges(store, BUILDER, last=10)
    assert [e.prompt for e in newest] == [f"prompt {i}" for i in range(20, 30)]
    assert newest[-1].replies == ("reply 29.0", "reply 29.1")
    assert exchanges(store, BUILDER)[-10:] == newest
    assert exchanges(store, BUILDER)[0].prompt == ""  # replies before any prompt are kept
    assert len(exchanges(store, BUILDER, last=100)) == 31


async def test_done_notes_add_their_lines_and_a_failing_note_holds_nothing_back(
    relay: Relay,
) -> None:
    async def diffstat(builder: str, notification: Notification) -> str | None:
        return f"{builder}: 2 files changed"

    async def broken(builder: str, notification: Notification) -> str | None:
        raise RuntimeError("git is gone")

    async def silent(builder: str, notification: Notification) -> str | None:
        return None

    for note in (diffstat, broken, silent):
        relay.add_done_note(note)
    done = Notification("ses_1:complete:e9", "ses_1", "complete", "Done\nall green")
    error = Notification("ses_1:error:e10", "ses_1", "error", "Model failed")
    annotated = await relay.events.with_done_notes(BUILDER, done)
    assert annotated.line == "✅ Done\nall green\n0014-ironman-training: 2 files changed"
    # only a Done carries notes
    assert await relay.events.with_done_notes(BUILDER, error) == error

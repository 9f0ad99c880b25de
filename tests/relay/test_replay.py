"""The classifier over every recorded scenario of a real OpenCode 1.18.33 server."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from assistant.cli.relay import replay_line
from assistant.relay import IDLE, SessionState, classify, read_stream, replay
from tools.opencode import parse_event_data


def notifications_by_scenario(path: Path, retry_limit: int | None = 5) -> dict[str, list[str]]:
    """Replay the whole capture (state carries over) and file each notification under the
    scenario header its cause appeared in."""
    states: dict[str, SessionState] = {}
    delivered: set[str] = set()
    out: dict[str, list[str]] = {}
    scenario = "preamble"
    for line in path.read_text().splitlines():
        if line.startswith(("# SCENARIO", "# SAME PERIOD")):
            scenario = line[2:].split(":")[0].split(" (")[0]
            out[scenario] = []
        if not line.startswith("data: "):
            continue
        event = parse_event_data(line[6:])
        if event is None or event.session_id is None:
            continue
        state, notification = classify(
            states.get(event.session_id, IDLE), event, retry_limit=retry_limit
        )
        states[event.session_id] = state
        if notification and notification.key not in delivered:
            delivered.add(notification.key)
            out[scenario].append(replay_line(notification).replace(notification.session_id, "S"))
    return out


def test_every_scenario_of_the_recorded_stream(corpus: Path) -> None:
    stream = corpus / "opencode-1.18.33" / "event-stream.sse.txt"
    assert notifications_by_scenario(stream) == snapshot(
        {
            "SCENARIO 1": [
                "S started 🔨 Started: Say hello",
                "S complete ✅ Done\\nHello from fake LLM",
            ],
            "SCENARIO 2": [
                "S started 🔨 Started: RUN_BASH: echo hello-from-bash; ls",
                "S complete ✅ Done\\nTool finished: hello-from-bash README.md",
            ],
            "SCENARIO 3": [
                "S started 🔨 Started: FAIL_BASH please",
                "S command_failed ⚠️ Command failed (exit 3): echo failing >&2; exit 3\\nfailing",
                "S complete ✅ Done\\nTool finished: failing",
            ],
            "SCENARIO 4": [
                "S started 🔨 Started: RUN_BASH: echo approved-run",
                "S permission 🔒 Approval needed: bash `echo approved-run`\\nTo deny with a reason: /deny REASON\\n1. Allow once\\n2. Always allow\\n3. Deny",
                "S complete ✅ Done\\nTool finished: approved-run",
            ],
            "SCENARIO 5": [
                "S started 🔨 Started: RUN_BASH: echo should-not-run",
                "S permission 🔒 Approval needed: bash `echo should-not-run`\\nTo deny with a reason: /deny REASON\\n1. Allow once\\n2. Always allow\\n3. Deny",
                "S complete ✅ Done\\nTool finished: The user rejected permission to use this",
            ],
            "SCENARIO 6": [
                "S started 🔨 Started: ASK_QUESTION now",
                "S question ❓ Color: Which color?\\n1. Red\\n2. Blue",
                'S complete ✅ Done\\nTool finished: User has answered your questions: "Which',
            ],
            "SCENARIO 7": [
                "S started 🔨 Started: HTTP_ERROR now",
                "S error ❌ The model request failed (fake upstream failure); OpenCode keeps retrying (attempt 1).",
            ],
            "SCENARIO 8": [
                "S started 🔨 Started: HTTP_400 now",
                "S error ❌ APIError: fake upstream failure 400",
            ],
            "SCENARIO 9": [
                "S started 🔨 Started: RUN_BASH: sleep 20; echo done",
                "S started 🔨 Started: hi with plan agent",
                "S complete ✅ Done\\nHello from fake LLM",
                'S started 🔨 Started: TOOL_CALL:todowrite {"todos":[{"content":"run tests","status":"in_progress","priority":"high"},{"content":"fix bug","st…',
                "S complete ✅ Done\\nTool finished: The arguments provided to the tool are i",
            ],
            "SCENARIO 10": [
                'S started 🔨 Started: TOOL_CALL:todowrite {"todos":[{"content":"run tests","status":"in_progress","priority":"high"},{"content":"fix bug","st…',
                'S complete ✅ Done\\nTool finished: [   {     "content": "run tests",     "s',
            ],
            "SCENARIO 11": [
                "S started 🔨 Started: RUN_BASH: python3 -m pytest -q test_sample.py",
                "S tests_failed 🧪 Tests failed: 1 failed, 1 passed\\n$ python3 -m pytest -q test_sample.py\\n    def test_bad():\\n>       assert 1 == 2\\nE       assert 1 == 2\\n\\ntest_sample.py:5: AssertionError\\n=========================== short test summary info ============================\\nFAILED test_sample.py::test_bad - assert 1 == 2\\n1 failed, 1 passed in 1.62s",
                "S complete ✅ Done\\nTool finished: .F",
            ],
            "SAME PERIOD ON GET /global/event": [
                "S started 🔨 Started: hello proj2",
                "S complete ✅ Done\\nHello from fake LLM",
            ],
        }
    )


def test_the_global_event_capture(corpus: Path) -> None:
    stream = corpus / "opencode-1.18.33" / "global-event-stream.jsonl"
    lines = [replay_line(n) for n in replay(read_stream(stream), retry_limit=5)]
    assert lines == snapshot(
        [
            "ses_dff276eeffferhkPBNgR8u4Yr5 started 🔨 Started: Say hello",
            "ses_dff276eeffferhkPBNgR8u4Yr5 complete ✅ Done\\nHello from fake LLM",
            "ses_dff276eeffferhkPBNgR8u4Yr5 started 🔨 Started: RUN_BASH: echo hi",
            "ses_dff276eeffferhkPBNgR8u4Yr5 complete ✅ Done\\nTool finished: hi",
            "ses_dff276eeffferhkPBNgR8u4Yr5 started 🔨 Started: FAIL_BASH",
            "ses_dff276eeffferhkPBNgR8u4Yr5 command_failed ⚠️ Command failed (exit 3): echo failing >&2; exit 3\\nfailing",
            "ses_dff276eeffferhkPBNgR8u4Yr5 complete ✅ Done\\nTool finished: failing",
            "ses_dff276eeffferhkPBNgR8u4Yr5 started 🔨 Started: RUN_BASH: python3 -c 'import sys; print(\"1 failed\"); sys.exit(1)' # pytest",
            "ses_dff276eeffferhkPBNgR8u4Yr5 tests_failed 🧪 Tests failed: 1 failed\\n$ python3 -c 'import sys; print(\"1 failed\"); sys.exit(1)' # pytest\\n1 failed",
            "ses_dff276eeffferhkPBNgR8u4Yr5 complete ✅ Done\\nTool finished: 1 failed",
            "ses_dff276eeffferhkPBNgR8u4Yr5 started 🔨 Started: HTTP_400",
            "ses_dff276eeffferhkPBNgR8u4Yr5 error ❌ APIError: fake upstream failure 400",
            "ses_dff276eeffferhkPBNgR8u4Yr5 started 🔨 Started: RUN_BASH: rm -f nothing.txt",
            "ses_dff276eeffferhkPBNgR8u4Yr5 permission 🔒 Approval needed: bash `rm -f nothing.txt`\\nTo deny with a reason: /deny REASON\\n1. Allow once\\n2. Always allow\\n3. Deny",
            "ses_dff276eeffferhkPBNgR8u4Yr5 complete ✅ Done\\nTool finished: (no output)",
            "ses_dff276eeffferhkPBNgR8u4Yr5 started 🔨 Started: ASK_QUESTION",
            "ses_dff276eeffferhkPBNgR8u4Yr5 question ❓ Color: Which color?\\n1. Red\\n2. Blue",
            'ses_dff276eeffferhkPBNgR8u4Yr5 complete ✅ Done\\nTool finished: User has answered your questions: "Which',
            "ses_dff276eeffferhkPBNgR8u4Yr5 started 🔨 Started: RUN_BASH: sleep 30",
        ]
    )


def test_a_long_retry_is_reported_once_then_aborted_at_the_limit(corpus: Path) -> None:
    stream = corpus / "opencode-1.18.33" / "event-stream.sse.txt"
    by_scenario = notifications_by_scenario(stream, retry_limit=3)
    assert by_scenario["SCENARIO 7"] == snapshot(
        [
            "S started 🔨 Started: HTTP_ERROR now",
            "S error ❌ The model request failed (fake upstream failure); OpenCode keeps retrying (attempt 1).",
            "S error ❌ Gave up after 3 failed attempts (fake upstream failure); the turn was stopped.",
        ]
    )
    aborts = [n for n in replay(read_stream(stream), retry_limit=3) if n.abort]
    assert [(n.kind, n.text) for n in aborts] == snapshot(
        [
            (
                "error",
                "Gave up after 3 failed attempts (fake upstream failure); the turn was stopped.",
            )
        ]
    )


def test_duplicate_idle_and_repeated_busy_notify_once() -> None:
    def event(type_: str, **props) -> object:
        return parse_event_data(
            json.dumps({"id": f"e{event.n}", "type": type_, "properties": props})
        )

    event.n = 0
    sid = "ses_1"
    sequence = [
        ("session.status", {"sessionID": sid, "status": {"type": "busy"}}),
        ("session.status", {"sessionID": sid, "status": {"type": "busy"}}),
        ("message.updated", {"sessionID": sid, "info": reply(sid, finish="stop")}),
        ("session.status", {"sessionID": sid, "status": {"type": "idle"}}),
        ("session.idle", {"sessionID": sid}),
        ("session.idle", {"sessionID": sid}),
    ]
    state, kinds = IDLE, []
    for type_, props in sequence:
        event.n += 1
        state, notification = classify(state, event(type_, **props))
        kinds.append(notification.kind if notification else None)
    assert kinds == ["started", None, None, "complete", None, None]


def reply(sid: str, completed: bool = True, **info: object) -> dict[str, object]:
    """An assistant message's `info` as OpenCode sends it in `message.updated`."""
    time = {"created": 1, "completed": 2} if completed else {"created": 1}
    return {"id": "msg_a", "role": "assistant", "sessionID": sid, "time": time, **info}


def scenario(stream: Path, header: str) -> list[str]:
    """The `data:` payloads recorded under one scenario header."""
    lines = stream.read_text().split(f"# {header}:", 1)[1].split("\n# SCENARIO", 1)[0]
    return [line[6:] for line in lines.splitlines() if line.startswith("data: ")]


def told(payloads: list[str]) -> list[str]:
    return [
        replay_line(n).replace(n.session_id, "S") for n in replay(map(parse_event_data, payloads))
    ]


def test_an_error_told_after_idle_is_never_done(corpus: Path) -> None:
    # The real LLM-400 turn, with its session.error moved after the idle pair, as OpenCode
    # sent it live for an UnknownError: the chat must not hear "Done" for a failed turn.
    recorded = scenario(corpus / "opencode-1.18.33" / "event-stream.sse.txt", "SCENARIO 8")
    error = next(p for p in recorded if '"session.error"' in p)
    first_idle = next(i for i, p in enumerate(recorded) if '"session.idle"' in p)
    reordered = [p for p in recorded if p != error]
    reordered.insert(first_idle, error)  # just after the first session.idle
    assert told(recorded) == snapshot(
        ["S started 🔨 Started: HTTP_400 now", "S error ❌ APIError: fake upstream failure 400"]
    )
    assert told(reordered) == snapshot(
        [
            "S started 🔨 Started: HTTP_400 now",
            "S error ❌ The turn ended without a finished reply.",
            "S error ❌ APIError: fake upstream failure 400",
        ]
    )


def test_a_failed_reply_before_idle_is_one_error_however_often_it_is_repeated() -> None:
    sid = "ses_1"
    unknown = {"name": "UnknownError", "data": {"message": "Model not found: fake/nope."}}
    repeated = {"name": "UnknownError", "data": {"message": "ProviderModelNotFoundError: …"}}
    events = [
        {"type": "session.status", "properties": {"sessionID": sid, "status": {"type": "busy"}}},
        {
            "type": "message.updated",
            "properties": {"sessionID": sid, "info": reply(sid, error=unknown)},
        },
        {"type": "session.status", "properties": {"sessionID": sid, "status": {"type": "idle"}}},
        {"type": "session.idle", "properties": {"sessionID": sid}},
        {"type": "session.error", "properties": {"sessionID": sid, "error": unknown}},
        {"type": "session.error", "properties": {"sessionID": sid, "error": repeated}},
    ]
    payloads = [json.dumps({"id": f"evt_{n}", **e}) for n, e in enumerate(events)]
    assert told(payloads) == snapshot(
        ["S started 🔨 Started", "S error ❌ UnknownError: Model not found: fake/nope."]
    )


def test_a_turn_without_reply_text_says_so_and_a_recovered_retry_is_done() -> None:
    sid = "ses_1"
    events = [
        # a shell command run from the OpenCode UI: a reply with a tool part and no text
        {"type": "session.status", "properties": {"sessionID": sid, "status": {"type": "busy"}}},
        {"type": "message.updated", "properties": {"sessionID": sid, "info": reply(sid)}},
        {"type": "session.idle", "properties": {"sessionID": sid}},
        # a model request that failed once, then worked
        {"type": "session.status", "properties": {"sessionID": sid, "status": {"type": "busy"}}},
        {
            "type": "session.status",
            "properties": {
                "sessionID": sid,
                "status": {"type": "retry", "attempt": 1, "message": "overloaded", "next": 9},
            },
        },
        {"type": "session.status", "properties": {"sessionID": sid, "status": {"type": "busy"}}},
        {
            "type": "message.part.updated",
            "properties": {
                "sessionID": sid,
                "part": {
                    "type": "text",
                    "text": "Fixed.",
                    "messageID": "msg_a",
                    "time": {"end": 3},
                },
            },
        },
        {
            "type": "message.updated",
            "properties": {"sessionID": sid, "info": reply(sid, finish="stop")},
        },
        {"type": "session.idle", "properties": {"sessionID": sid}},
    ]
    payloads = [json.dumps({"id": f"evt_{n}", **e}) for n, e in enumerate(events)]
    assert told(payloads) == snapshot(
        [
            "S started 🔨 Started",
            "S complete ✅ Done (no reply text)",
            "S started 🔨 Started",
            "S error ❌ The model request failed (overloaded); OpenCode keeps retrying (attempt 1).",
            "S complete ✅ Done\\nFixed.",
        ]
    )


def test_replay_command_prints_one_line_per_notification(corpus: Path) -> None:
    stream = corpus / "opencode-1.18.33" / "event-stream.sse.txt"
    result = CliRunner().invoke(cli, ["relay", "replay", str(stream)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(replay(read_stream(stream), retry_limit=5))
    assert lines[:2] == snapshot(
        [
            "ses_dff2adc09ffevgzWs1EdBVQdHD started 🔨 Started: Say hello",
            "ses_dff2adc09ffevgzWs1EdBVQdHD complete ✅ Done\\nHello from fake LLM",
        ]
    )


def test_replay_command_json(corpus: Path) -> None:
    stream = corpus / "opencode-1.18.33" / "global-event-stream.jsonl"
    result = CliRunner().invoke(cli, ["relay", "replay", "--json", str(stream)])
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r for r in records if r["kind"] == "permission"] == snapshot(
        [
            {
                "session_id": "ses_dff276eeffferhkPBNgR8u4Yr5",
                "kind": "permission",
                "key": "permission:per_200d8a3ac001N365c8fqbm704w",
                "text": """\
Approval needed: bash `rm -f nothing.txt`
To deny with a reason: /deny REASON\
""",
                "choices": [
                    {"label": "Allow once", "data": "perm:per_200d8a3ac001N365c8fqbm704w:once"},
                    {"label": "Always allow", "data": "perm:per_200d8a3ac001N365c8fqbm704w:always"},
                    {"label": "Deny", "data": "perm:per_200d8a3ac001N365c8fqbm704w:reject"},
                ],
            }
        ]
    )


def test_replay_command_names_the_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "session.idle", "properties": {"sessionID": "s"}}\nnot json\n')
    result = CliRunner().invoke(cli, ["relay", "replay", str(bad)])
    assert result.exit_code == 1
    assert result.output.replace(str(tmp_path), "TMP") == snapshot(
        "Error: TMP/bad.jsonl:2: not an OpenCode event: not json\n"
    )

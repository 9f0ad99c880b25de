"""The relay's fixed table: (session state, OpenCode event) → (new state, at most one notification).

Pure: no I/O, no clock, no randomness. The live relay, `foreman relay replay` and the
benchmark all call `classify`, so a captured stream replays exactly as it was relayed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from assistant.messages import ButtonData, Choice
from assistant.relay._notice import Notification
from tools.opencode import Event, MalformedEvent, Permission, Question

OUTPUT_TAIL_LINES = 8
PROMPT_PREVIEW = 120


@dataclass(frozen=True)
class SessionState:
    status: Literal["idle", "busy", "retry"] = "idle"
    turn_failed: bool = False  # the turn ended in an error or abort: no "done"
    retry_reported: bool = False
    gave_up: bool = False  # the retry limit was reached and the turn aborted
    # the turn's latest assistant message completed without an error: only then is it "done"
    reply_done: bool = False
    # an error was reported for this turn: OpenCode may repeat it (a second session.error with
    # a stack trace, or the failed message itself), and the chat hears it once
    error_reported: bool = False
    # the turn went idle with no finished reply and no error yet: a late error still belongs to it
    ended_unfinished: bool = False
    last_text: str | None = None  # the last final assistant text of this turn
    prompt: str | None = None  # the last user text
    user_message: str | None = None  # id of the last user message (its parts are the prompt)
    todos: tuple[tuple[str, str], ...] = ()  # (status, content)
    last_failed_part: str | None = None

    @property
    def busy(self) -> bool:
        return self.status != "idle"


IDLE = SessionState()

TEST_COMMAND = re.compile(
    r"(^|[\s;&|(/])("
    r"pytest|py\.test|python3? -m (pytest|unittest)|tox|nox|go test|cargo test|"
    r"(npm|yarn|pnpm|bun)( run)? test|npx (jest|vitest|mocha)|jest|vitest|mocha|"
    r"rspec|phpunit|ctest|mvn( \S+)* test|gradle( \S+)* test|dotnet test|mix test|"
    r"task test|make test"
    r")\b"
)
TEST_OUTPUT = re.compile(
    r"^(=+ )?\d+ (failed|passed|error)|^FAILED |^--- FAIL|^test result: FAILED|"
    r"^Tests?:\s+\d+ failed",
    re.MULTILINE,
)
SUMMARY = re.compile(
    r"(\d+ failed(, \d+ \w+)*|\d+ passed, \d+ failed(, \d+ \w+)*|"
    r"\d+ errors?(, \d+ \w+)*|Tests?:\s+\d+ failed[^\n]*|test result: FAILED[^\n]*)"
)


def is_test_run(command: str, output: str) -> bool:
    return bool(TEST_COMMAND.search(command) or TEST_OUTPUT.search(output))


def test_summary(output: str) -> str | None:
    """The runner's own summary line, e.g. `1 failed, 1 passed`; the last one wins."""
    found = SUMMARY.findall(output)
    return found[-1][0].strip() if found else None


def tail(output: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    return "\n".join(output.rstrip("\n").splitlines()[-lines:])


def first_line(text: str, limit: int = PROMPT_PREVIEW) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def permission_notification(permission: Permission) -> Notification:
    what = permission.command or ", ".join(permission.patterns) or permission.permission
    lines = [f"Approval needed: {permission.permission} `{what}`"]
    if permission.patterns and permission.patterns != (what,):
        lines.append("patterns: " + ", ".join(permission.patterns))
    # the choices are rendered by each channel; only a reason needs the command
    lines.append("To deny with a reason: /deny REASON")
    pid = permission.id
    return Notification(
        key=f"permission:{pid}",
        session_id=permission.session_id,
        kind="permission",
        text="\n".join(lines),
        choices=(
            Choice("Allow once", ButtonData("perm", pid, "once").encode()),
            Choice("Always allow", ButtonData("perm", pid, "always").encode()),
            Choice("Deny", ButtonData("perm", pid, "reject").encode()),
        ),
    )


def question_notification(question: Question) -> Notification:
    lines: list[str] = []
    choices: list[Choice] = []
    for item in question.questions:
        head = f"{item.header}: " if item.header and item.header != item.question else ""
        lines.append(f"{head}{item.question}")
    # buttons answer the first question; a multi-question request is answered by text
    if question.questions:
        for n, option in enumerate(question.questions[0].options, start=1):
            choices.append(Choice(option.label, ButtonData("q", question.id, str(n)).encode()))
    return Notification(
        key=f"question:{question.id}",
        session_id=question.session_id,
        kind="question",
        text="\n".join(lines),
        choices=tuple(choices),
    )


def _error_message(error: dict[str, Any]) -> str:
    name = error.get("name") or "Error"
    data = error.get("data") or {}
    message = data.get("message") if isinstance(data, dict) else None
    return f"{name}: {message}" if message else name


def classify(
    state: SessionState, event: Event, *, retry_limit: int | None = None
) -> tuple[SessionState, Notification | None]:
    """Apply one event to one session's state; return the new state and what to tell the chat.

    Raises MalformedEvent when the event's properties are not of the shape OpenCode sends
    (`metadata: 7`, options a string, `error` a string, …): the caller skips it, the state
    stays as it was.
    """
    try:
        return _classify(state, event, retry_limit)
    except (AttributeError, TypeError, ValueError, KeyError, RecursionError) as exc:
        # the table is pure: any of these comes from the event's shape, never from I/O
        raise MalformedEvent(f"{event.type}: {type(exc).__name__}: {exc}"[:200]) from None


def _classify(
    state: SessionState, event: Event, retry_limit: int | None
) -> tuple[SessionState, Notification | None]:
    kind = event.type
    props = event.properties
    sid = event.session_id or ""
    key_id = event.id or ""

    if kind == "session.status":
        status = props.get("status") or {}
        stype = status.get("type")
        if stype == "busy":
            if state.busy:
                return (replace(state, status="busy") if state.status != "busy" else state), None
            new = replace(
                state,
                status="busy",
                turn_failed=False,
                retry_reported=False,
                gave_up=False,
                reply_done=False,
                error_reported=False,
                ended_unfinished=False,
                last_text=None,
                prompt=None,  # consumed: a later turn without a new message shows none
                last_failed_part=None,
            )
            text = "Started"
            if state.prompt:
                text += ": " + first_line(state.prompt)
            return new, Notification(f"{sid}:started:{key_id}", sid, "started", text)
        if stype == "retry":
            attempt = int(status.get("attempt") or 0)
            message = status.get("message") or "model request failed"
            new = replace(state, status="retry", turn_failed=True)
            if state.gave_up:
                return new, None
            if retry_limit is not None and attempt >= retry_limit:
                text = f"Gave up after {attempt} failed attempts ({message}); the turn was stopped."
                return replace(new, retry_reported=True, gave_up=True), Notification(
                    f"{sid}:retry-limit:{key_id}", sid, "error", text, abort=True
                )
            if state.retry_reported:
                return new, None
            text = f"The model request failed ({message}); OpenCode keeps retrying"
            text += f" (attempt {attempt})." if attempt else "."
            return replace(new, retry_reported=True), Notification(
                f"{sid}:retry:{key_id}", sid, "error", text
            )
        if stype == "idle":
            return _turn_end(state, sid, key_id)
        return state, None

    if kind == "session.idle":
        return _turn_end(state, sid, key_id)

    if kind == "session.error":
        return _turn_error(state, sid, key_id, props.get("error") or {})

    if kind == "message.updated":
        info = props.get("info") or {}
        role = info.get("role")
        if role == "user" and info.get("id") != state.user_message:
            # a new message from the user: errors from here on are news, not repeats
            return replace(state, user_message=info.get("id"), error_reported=False), None
        if role != "assistant":
            return state, None
        error = info.get("error")
        if error and (state.busy or state.ended_unfinished):
            # the failed reply can precede session.error, and even session.idle
            return _turn_error(state, sid, key_id, error)
        if not state.busy or error:
            return state, None  # e.g. the messages a fork copies, old errors included
        completed = bool((info.get("time") or {}).get("completed"))
        # a reply that completes while a retry is pending was cut short by an abort
        done = completed and state.status == "busy"
        new = replace(state, reply_done=done)
        if done and info.get("finish") and state.retry_reported and not state.gave_up:
            new = replace(new, turn_failed=False)  # the model recovered after retrying
        return new, None

    if kind == "message.part.updated":
        part = props.get("part") or {}
        ptype = part.get("type")
        if ptype == "text":
            if part.get("synthetic") or part.get("ignored"):
                return state, None
            if part.get("messageID") == state.user_message:
                return replace(state, prompt=part.get("text") or ""), None
            if (part.get("time") or {}).get("end") and state.busy:
                return replace(state, last_text=part.get("text") or ""), None
            return state, None
        if ptype == "tool" and part.get("tool") == "bash" and state.busy:
            return _bash_result(state, sid, part)
        return state, None

    if kind == "permission.asked":
        return state, permission_notification(Permission.from_json(props))

    if kind == "question.asked":
        return state, question_notification(Question.from_json(props))

    if kind == "todo.updated":
        todos = tuple(
            (str(t.get("status", "")), str(t.get("content", ""))) for t in props.get("todos") or ()
        )
        return replace(state, todos=todos), None

    return state, None


def _turn_error(
    state: SessionState, sid: str, key_id: str, error: dict[str, Any]
) -> tuple[SessionState, Notification | None]:
    new = replace(state, turn_failed=True, ended_unfinished=False)
    if error.get("name") == "MessageAbortedError":
        return new, None  # the user stopped it and was told so
    if state.error_reported:
        return new, None  # the same failure, told again by OpenCode
    notification = Notification(f"{sid}:error:{key_id}", sid, "error", _error_message(error))
    return replace(new, error_reported=True), notification


def _turn_end(
    state: SessionState, sid: str, key_id: str
) -> tuple[SessionState, Notification | None]:
    if not state.busy:
        return state, None  # the second idle of a pair, or idle while idle
    new = replace(state, status="idle")
    if state.turn_failed:
        return new, None
    if not state.reply_done:
        # idle can come before the session.error that explains it: never call that "done"
        text = "The turn ended without a finished reply."
        notification = Notification(f"{sid}:unfinished:{key_id}", sid, "error", text)
        return replace(new, ended_unfinished=True), notification
    reply = (state.last_text or "").strip()
    text = "Done\n" + reply if reply else "Done (no reply text)"
    return new, Notification(f"{sid}:complete:{key_id}", sid, "complete", text)


def _bash_result(
    state: SessionState, sid: str, part: dict[str, Any]
) -> tuple[SessionState, Notification | None]:
    tool_state = part.get("state") or {}
    if tool_state.get("status") != "completed" or part.get("id") == state.last_failed_part:
        return state, None
    metadata = tool_state.get("metadata") or {}
    exit_code = metadata.get("exit")
    # exit None is an aborted command; 0 is success: neither is a failure to report
    if exit_code in (None, 0):
        return state, None
    command = str((tool_state.get("input") or {}).get("command") or tool_state.get("title") or "")
    output = str(tool_state.get("output") or metadata.get("output") or "")
    new = replace(state, last_failed_part=part.get("id"))
    key = f"{sid}:tool:{part.get('id')}"
    if is_test_run(command, output):
        summary = test_summary(output) or f"exit {exit_code}"
        text = f"Tests failed: {summary}\n$ {command}\n{tail(output)}".rstrip()
        return new, Notification(key, sid, "tests_failed", text)
    text = f"Command failed (exit {exit_code}): {command}\n{tail(output)}".rstrip()
    return new, Notification(key, sid, "command_failed", text)

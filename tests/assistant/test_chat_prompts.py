"""`foreman chat` at an approval card, typed into as a person would: answer, wait, answer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from inline_snapshot import snapshot

from tools.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
CARD_PROMPT = re.compile(r"Approve ([2-9b-z]{6})\? \[y/n\] $")


class Terminal:
    """`foreman chat` in a child process; what it printed so far, and lines typed into it."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "chat", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.output = ""
        self._read = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        while chunk := os.read(self.process.stdout.fileno(), 4096):
            with self._lock:
                self.output += chunk.decode()

    def expect(self, pattern: re.Pattern[str], timeout: float = 60) -> re.Match[str]:
        """Wait until the output since the last match matches `pattern`; return the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                match = pattern.search(self.output, self._read)
                if match:
                    self._read = match.end()
                    return match
            time.sleep(0.02)
        raise AssertionError(f"no {pattern.pattern!r} in:\n{self.output[self._read :]}")

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def end_input(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=60)


def test_card_prompts_do_what_the_answer_says(workspace: Workspace) -> None:
    before = workspace.projectlist_path.read_text()
    chat = Terminal("--workspace", str(workspace.root), "--model", "offline")
    try:
        chat.expect(re.compile(r"model: offline, the scripted policy"))
        chat.type("/status 0015 implementing")
        card = chat.expect(CARD_PROMPT).group(1)
        # anything else is asked again; typing what the card says does what it says
        chat.type("sure, why not")
        chat.expect(re.compile(rf"Answer y to approve {card} or n to reject it"))
        chat.expect(CARD_PROMPT)
        chat.type(f"/approve {card}")
        chat.expect(re.compile(r"✓ 0015: planned → implementing"))

        # two cards at once: both are named; /reject names the second, then the first is asked
        chat.type("I want to start working on project 0016")
        both = chat.expect(re.compile(r"2 cards wait for you: ([2-9b-z]{6}), ([2-9b-z]{6})"))
        first, second = both.groups()
        assert chat.expect(CARD_PROMPT).group(1) == first
        chat.type(f"/reject {second}")
        chat.expect(re.compile(rf"Rejected {second}: Create builder 0016-voice-notes"))
        assert chat.expect(CARD_PROMPT).group(1) == first
        # end of input at that prompt: the card stays pending, and the user is told
        assert chat.end_input() == 0
        chat.expect(re.compile(rf"Input ended; left pending: {first}\."))
    finally:
        if chat.process.poll() is None:
            chat.process.kill()
            chat.process.wait()
    after = workspace.projectlist_path.read_text()
    assert after.count("status: implementing") == before.count("status: implementing") + 1
    assert "0016" in after and not (workspace.root / ".builders" / "0016-voice-notes").exists()
    stderr = chat.process.stderr.read().decode() if chat.process.stderr else ""
    assert "Traceback" not in stderr


def test_y_and_no_decide_the_card_on_screen(workspace: Workspace) -> None:
    chat = Terminal("--workspace", str(workspace.root))
    try:
        chat.type("/status 0016 specified")
        chat.expect(CARD_PROMPT)
        chat.type("no")
        chat.expect(re.compile(r"Rejected [2-9b-z]{6}: Set 0016"))
        chat.type("/status 0016 specified")
        chat.expect(CARD_PROMPT)
        chat.type("y")
        chat.expect(re.compile(r"✓ 0016: conceived → specified"))
        assert chat.end_input() == 0
    finally:
        if chat.process.poll() is None:
            chat.process.kill()
            chat.process.wait()


async def test_a_no_op_status_change_in_chat_is_refused_before_any_card(make_service) -> None:
    from tests.assistant.scripted_chat import dm

    svc = make_service(None)
    [reply] = await svc.handle(dm("/status 13 integrated"))
    assert (reply.kind, reply.text) == snapshot(
        ("error", "Cannot propose that: 0013 is already integrated")
    )
    assert svc.approvals.pending() == [] and svc.approvals.audit_log() == []

"""`ManagedServer`: a real `opencode serve` Foreman starts, restarts and stops itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.channels.waiting import eventually
from tests.opencode_server import FakeLLM, ToolCall, opencode_env, require_opencode_binary
from tools.opencode import ManagedServer, OpenCodeClient, Restart, ServerStartError

REPO = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for every purpose here, but kill(0) still finds it
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


async def answer(client: OpenCodeClient, session_id: str, text: str) -> str:
    """Send a prompt and wait for the turn's final reply text."""
    before = len(await client.messages(session_id))
    await client.prompt_async(session_id, text)
    async with asyncio.timeout(30):
        while True:
            recent = (await client.messages(session_id))[before:]
            for entry in reversed(recent):
                info = entry.get("info") or {}
                if info.get("role") == "assistant" and info.get("finish") == "stop":
                    parts = entry.get("parts", [])
                    return " ".join(p.get("text", "") for p in parts if p.get("type") == "text")
            await asyncio.sleep(0.05)


def managed(tmp_path: Path, llm: FakeLLM, **options: float) -> ManagedServer:
    """The server as `foreman serve` runs it, in an environment that gives it the fake LLM the
    way a user's own OpenCode config would (the XDG dirs and OPENCODE_CONFIG_CONTENT)."""
    env = opencode_env(tmp_path / "home", llm.url)
    env["FOREMAN_TELEGRAM_TOKEN"] = "123:not-for-builders"
    return ManagedServer(
        require_opencode_binary(),
        tmp_path / "state" / "opencode.log",
        cwd=tmp_path,
        env=env,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.opencode
async def test_a_managed_server_serves_builders_survives_a_kill_and_stops_without_a_trace(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    server = managed(tmp_path, fake_llm, backoff=0.05)
    restarts: list[Restart] = []

    async def told(restart: Restart) -> None:
        restarts.append(restart)

    await server.start()
    watch = asyncio.create_task(server.watch(told))
    try:
        assert server.url.startswith("http://127.0.0.1:")
        # a password nobody else knows: without it the server answers nothing
        assert httpx.get(f"{server.url}/global/health").status_code == 401
        project = tmp_path / "project"
        project.mkdir()
        async with OpenCodeClient(server.url, server.password) as client:
            session = await client.create_session(str(project), title="builder")
            # a builder's shell sees the user's environment, not Foreman's own tokens
            command = "echo token=[$FOREMAN_TELEGRAM_TOKEN] home=$HOME"
            fake_llm.script(ToolCall("bash", {"command": command, "description": "env"}))
            reply = await answer(client, session.id, "show the environment")
            assert f"token=[] home={tmp_path}/home/home" in reply
            first_pid = server.pid
            assert first_pid is not None

            os.killpg(first_pid, signal.SIGKILL)  # dies as a crashed server would
            await eventually(lambda: len(restarts) == 1)
            assert restarts == [Restart(True, -9, 1, 1)]
            assert server.status().state == "running" and server.pid != first_pid
            # same URL and password, and the builder's session is still there
            assert await answer(client, session.id, "are you back?") == "Hello from fake LLM"
            users = [
                part.get("text")
                for entry in await client.messages(session.id)
                if entry["info"]["role"] == "user"
                for part in entry["parts"]
            ]
            assert users == ["show the environment", "are you back?"]
        second_pid = server.pid
        assert second_pid is not None
    finally:
        await server.stop()
        await asyncio.wait_for(watch, 10)
    assert not alive(first_pid) and not alive(second_pid)
    assert server.status().state == "stopped" and server.status().pid is None
    log = server.log_path.read_text()
    assert log.count("foreman starts opencode serve") == 2
    assert server.password not in log
    assert os.stat(server.log_path).st_mode & 0o077 == 0  # the log is the user's alone


@pytest.mark.opencode
async def test_a_server_that_keeps_dying_is_given_up_on_and_said_so(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    server = managed(tmp_path, fake_llm, backoff=0.01, max_restarts=2)
    restarts: list[Restart] = []

    async def told(restart: Restart) -> None:
        restarts.append(restart)

    await server.start()
    broken = tmp_path / "broken-opencode"
    broken.write_text("#!/bin/sh\necho 'cannot open database' >&2\nexit 3\n")
    broken.chmod(0o755)
    server.binary = broken  # what a bad upgrade under a running Foreman would leave
    try:
        os.killpg(server.pid, signal.SIGKILL)  # type: ignore[arg-type]
        await asyncio.wait_for(server.watch(told), 30)
    finally:
        await server.stop()
    (gave_up,) = restarts
    assert not gave_up.restarted and gave_up.attempts == 2
    assert gave_up.error == (
        f"OpenCode ({broken}) exited at start with code 3; its output is in {server.log_path}"
    )
    assert "cannot open database" in server.log_path.read_text()


@pytest.mark.opencode
def test_no_server_outlives_a_foreman_killed_by_sigkill(fake_llm: FakeLLM, tmp_path: Path) -> None:
    home = tmp_path / "home"
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from tools.opencode import ManagedServer

        async def main():
            server = ManagedServer(Path({str(require_opencode_binary())!r}),
                                   Path({str(tmp_path / "opencode.log")!r}))
            await server.start()
            print(server.pid, flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())
        """
    )
    env = opencode_env(home, fake_llm.url)
    foreman = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert foreman.stdout is not None
        pid = int(foreman.stdout.readline())
        assert alive(pid)
        foreman.kill()
        foreman.wait()
        asyncio.run(eventually(lambda: not alive(pid), timeout=15))
    finally:
        if foreman.poll() is None:
            foreman.kill()


async def test_a_binary_that_exits_at_start_is_named_with_its_log(tmp_path: Path) -> None:
    binary = tmp_path / "opencode"
    binary.write_text("#!/bin/sh\necho 'Error: unknown option --hostname' >&2\nexit 2\n")
    binary.chmod(0o755)
    server = ManagedServer(binary, tmp_path / "opencode.log")
    with pytest.raises(ServerStartError) as raised:
        await server.start()
    assert str(raised.value) == (
        f"OpenCode ({binary}) exited at start with code 2; its output is in {tmp_path}/opencode.log"
    )
    assert "unknown option" in (tmp_path / "opencode.log").read_text()
    assert server.status().state == "failed"


async def test_a_long_log_is_moved_aside_when_the_server_starts(tmp_path: Path) -> None:
    binary = tmp_path / "opencode"
    binary.write_text("#!/bin/sh\necho 'this run'\nexit 1\n")
    binary.chmod(0o755)
    log = tmp_path / "opencode.log"
    log.write_text("an old run\n" * 500_000)  # past the 5 MB a log may grow to
    with pytest.raises(ServerStartError):
        await ManagedServer(binary, log).start()
    assert "this run" in log.read_text() and "an old run" not in log.read_text()
    assert (tmp_path / "opencode.log.1").read_text().startswith("an old run")


async def test_a_binary_that_never_answers_is_stopped_after_the_deadline(tmp_path: Path) -> None:
    binary = tmp_path / "opencode"
    binary.write_text("#!/bin/sh\nexec sleep 60\n")
    binary.chmod(0o755)
    server = ManagedServer(binary, tmp_path / "opencode.log", start_timeout=1.0)
    with pytest.raises(ServerStartError, match=r"did not answer on 127\.0\.0\.1:\d+ within 1 s"):
        await server.start()
    assert server.pid is None  # the hung process was killed, not left behind

"""An `opencode serve` run as a child process: a free local port, a random password, a health
wait, restarts with backoff when it dies, and a stop that leaves no process behind.

Nothing here knows about chats: whoever runs the server passes a callback to `watch` and says
what a restart means to its users.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx

from tools.opencode._errors import OpenCodeError

log = logging.getLogger("foreman.opencode")

HOST = "127.0.0.1"
USERNAME = "opencode"
LOG_LIMIT_BYTES = 5_000_000
State = Literal["not started", "starting", "running", "restarting", "failed", "stopped"]


class ServerStartError(OpenCodeError):
    """The server did not come up; the message is one line naming the binary and its log."""


@dataclass(frozen=True)
class ServerStatus:
    """What the server is doing, for health lines and doctor; never the password."""

    state: State
    url: str
    port: int
    pid: int | None
    restarts: int
    binary: str
    log: str


@dataclass(frozen=True)
class Restart:
    """One death of the server, told to `watch`'s callback: brought back, or given up on."""

    restarted: bool
    exit_code: int | None
    restarts: int  # restarts that succeeded so far, this one included
    attempts: int  # tries it took (or that failed, when it was given up on)
    error: str | None = None  # the last try's one-line error, when given up on


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def server_environment(base: Mapping[str, str], username: str, password: str) -> dict[str, str]:
    """The caller's environment (so the user's own OpenCode config, XDG dirs and provider
    keys apply), with the server's credentials and without Foreman's own settings: builders'
    shell commands run in this environment, and Foreman's tokens are not theirs to read."""
    env = {
        key: value
        for key, value in base.items()
        if not key.startswith("FOREMAN_")
        and key not in ("OPENCODE_SERVER_PASSWORD", "OPENCODE_SERVER_USERNAME")
    }
    env["OPENCODE_SERVER_USERNAME"] = username
    env["OPENCODE_SERVER_PASSWORD"] = password
    return env


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux: a function for the child that asks for SIGTERM when Foreman dies, even by
    SIGKILL, so the server is never orphaned. Looked up here, in the parent: between fork and
    exec the child should do no more than call it."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def ask() -> None:  # pragma: no cover - runs in the child
        prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG

    return ask


class ManagedServer:
    """One `opencode serve` on 127.0.0.1, owned by this process.

    `start()` spawns it and waits until it answers `/global/health`; `watch()` brings it back
    when it dies (backoff, at most `max_restarts` deaths within `restart_window` seconds);
    `stop()` ends it and everything it started. The URL and password are fixed for the
    object's life, so clients made before the first start keep working across restarts.
    """

    def __init__(
        self,
        binary: Path,
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 5.0,
        max_restarts: int = 5,
        restart_window: float = 600.0,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.binary = binary
        self.log_path = log_path
        self.cwd = cwd  # the server's own directory (its default project); set before start
        self.username = USERNAME
        self.password = secrets.token_urlsafe(24)
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self.restarts = 0
        self.state: State = "not started"
        self._env = dict(os.environ if env is None else env)
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    def __repr__(self) -> str:  # never the password
        return f"ManagedServer({self.url!r}, binary={str(self.binary)!r}, state={self.state!r})"

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def status(self) -> ServerStatus:
        return ServerStatus(
            self.state,
            self.url,
            self.port,
            self.pid,
            self.restarts,
            str(self.binary),
            str(self.log_path),
        )

    async def start(self) -> None:
        """Spawn the server and wait for its health; ServerStartError when it never comes up."""
        self._stopping = False
        self.state = "starting"
        try:
            await self._launch()
        except BaseException:
            self.state = "failed"
            raise
        self.state = "running"

    async def watch(self, on_restart: Callable[[Restart], Awaitable[object]] | None = None) -> None:
        """Until `stop()`: whenever the server dies, start it again and tell `on_restart`.

        Returns when stopped, or after giving up (state "failed", told to `on_restart` too)."""
        deaths: deque[float] = deque()
        while not self._stopping:
            code = await self._exited()
            if self._stopping:
                return
            log.warning("opencode serve (port %d) exited with code %s", self.port, code)
            attempts = 0
            error: str | None = None
            while True:
                now = time.monotonic()
                deaths.append(now)
                while deaths and now - deaths[0] > self.restart_window:
                    deaths.popleft()
                if len(deaths) > self.max_restarts:
                    self.state = "failed"
                    log.error("opencode serve keeps dying; not restarting it again: %s", error)
                    await _tell(on_restart, Restart(False, code, self.restarts, attempts, error))
                    return
                self.state = "restarting"
                delay = min(self.max_backoff, self.backoff * 2 ** (len(deaths) - 1))
                await asyncio.sleep(delay)
                if self._stopping:
                    return
                attempts += 1
                try:
                    await self._launch()
                except ServerStartError as exc:
                    error = exc.message
                    log.warning("restarting opencode serve failed: %s", error)
                    continue
                break
            self.state = "running"
            self.restarts += 1
            log.warning("opencode serve restarted (pid %s, restart %d)", self.pid, self.restarts)
            await _tell(on_restart, Restart(True, code, self.restarts, attempts))

    async def stop(self) -> None:
        """End the server and every process it started; waits at most `stop_timeout` for a
        clean exit, then kills."""
        self._stopping = True
        process = self._process
        if process is not None:
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
                deadline = time.monotonic() + self.stop_timeout
                while process.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            self._reap(process)
            atexit.unregister(self._kill_now)
        if self.state != "not started":
            self.state = "stopped"

    def _kill_now(self) -> None:
        """At interpreter exit, whatever path got there: no server outlives Foreman."""
        if self._process is not None:
            self._reap(self._process)

    @staticmethod
    def _reap(process: subprocess.Popen[bytes]) -> None:
        # the group too: the server's background `npm install` may outlive it
        _signal_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)

    async def _exited(self) -> int | None:
        process = self._process
        if process is None:
            return None
        while process.poll() is None and not self._stopping:
            await asyncio.sleep(self.poll_interval)
        return process.returncode

    async def _launch(self) -> None:
        if self._process is not None:
            self._reap(self._process)
        self._process = self._spawn()
        atexit.register(self._kill_now)
        try:
            await self._wait_healthy(self._process)
        except BaseException:
            self._reap(self._process)
            raise

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            # one older log is kept beside it, so a server that runs for months stays bounded
            if self.log_path.stat().st_size > LOG_LIMIT_BYTES:
                self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log_file:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log_file.write(f"--- {stamp} foreman starts opencode serve on {self.url}\n".encode())
            log_file.flush()
            try:
                return subprocess.Popen(
                    [str(self.binary), "serve", "--hostname", HOST, "--port", str(self.port)],
                    cwd=self.cwd,
                    env=server_environment(self._env, self.username, self.password),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    # its own group: a terminal's Ctrl-C reaches Foreman, which stops it in order
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),
                )
            except OSError as exc:
                raise ServerStartError(
                    f"OpenCode ({self.binary}) could not be started: {exc.strerror or exc}"
                ) from None

    async def _wait_healthy(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        auth = (self.username, self.password)
        async with httpx.AsyncClient(timeout=2.0, auth=auth) as http:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise ServerStartError(
                        f"OpenCode ({self.binary}) exited at start with code {process.returncode};"
                        f" its output is in {self.log_path}"
                    )
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    response = await http.get(f"{self.url}/global/health")
                    if response.status_code == 200 and response.json().get("healthy"):
                        return
                await asyncio.sleep(0.1)
        raise ServerStartError(
            f"OpenCode ({self.binary}) did not answer on {HOST}:{self.port} within "
            f"{self.start_timeout:.0f} s; its output is in {self.log_path}"
        )


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def _tell(callback: Callable[[Restart], Awaitable[object]] | None, restart: Restart) -> None:
    if callback is None:
        return
    try:
        await callback(restart)
    except Exception:  # telling is extra: the server is already back (or given up on)
        log.exception("reporting an opencode restart failed")

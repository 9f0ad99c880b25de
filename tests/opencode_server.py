"""A real `opencode serve` for tests, driven by a fake OpenAI-compatible streaming LLM.

Fixtures (import them into a conftest with
``from tests.opencode_server import fake_llm, fake_llm_server, opencode_server  # noqa: F401``):

- ``fake_llm_server`` (session scope) — the fake LLM: an HTTP server on 127.0.0.1 speaking
  OpenAI chat-completions streaming. ``.url`` is its ``/v1`` base URL.
- ``fake_llm`` (per test) — the same server, reset: an empty script and no recorded requests.
  Script replies with ``fake_llm.script(Text("hi"), ToolCall("bash", {"command": "ls"}), ...)``;
  each model call (except OpenCode's title-generation call, which always gets a default title)
  takes the next scripted reply. With the script empty, it answers ``Hello from fake LLM``, or
  ``Tool finished: <output>`` when the last message is a tool result. ``fake_llm.requests`` holds
  every request body (dicts); ``fake_llm.texts()`` the user/tool texts the model was shown.
  Reply types: ``Text``, ``ToolCall`` (one or several per reply: ``ToolCalls``), ``HttpError``,
  ``Garbage`` (a stream OpenCode cannot parse), ``Stall`` (an answer that never comes, until
  the next reset). Every streamed answer ends with OpenAI ``usage``: 10 prompt and 5 completion
  tokens unless the reply says ``usage=(prompt, completion)``. The model is priced
  (``PRICE_INPUT`` / ``PRICE_OUTPUT`` dollars per million tokens), so OpenCode reports a cost.
- ``opencode_server`` (session scope) — a real ``opencode serve --hostname 127.0.0.1 --port P``
  with isolated HOME/XDG dirs, the env flags of OPENCODE.md, a server password (so every test
  also exercises Basic auth) and ``OPENCODE_CONFIG_CONTENT`` pointing at ``fake_llm_server``.
  Yields an ``OpenCodeProcess`` (``.url``, ``.password``, ``.username``, ``.restart()``,
  ``.kill()``, ``.stop()``). Sharing one server keeps the suite fast; give each test its own
  directory (``tmp_path``) and sessions.
- ``start_opencode(fake_llm_server, tmp_path, password=...)`` starts a private server when a
  test must kill or restart it; call ``.stop()`` in a ``finally``.

The binary is ``find_opencode_binary()``: $FOREMAN_OPENCODE_BIN, then
``<repo>/.venv/opencode/node_modules/opencode-linux-x64/bin/opencode`` (or ``-baseline``), then
``opencode`` on PATH. Missing: the tests skip with the reason, but FAIL when env CI is set.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tools.opencode import find_opencode_binary

PASSWORD = "test-secret-pw"
# the fake model's price in OpenCode's config, US dollars per million tokens
PRICE_INPUT = 2.0
PRICE_OUTPUT = 10.0
DEFAULT_USAGE = (10, 5)  # (prompt, completion) tokens the fake reports for an answer


@dataclass(frozen=True)
class Text:
    """A streamed plain-text answer."""

    text: str
    usage: tuple[int, int] = DEFAULT_USAGE


@dataclass(frozen=True)
class ToolCall:
    """The model calls one tool (bash, question, todowrite, ...) with these arguments."""

    name: str
    arguments: dict[str, Any]
    usage: tuple[int, int] = DEFAULT_USAGE


@dataclass(frozen=True)
class ToolCalls:
    calls: tuple[ToolCall, ...]
    usage: tuple[int, int] = DEFAULT_USAGE


@dataclass(frozen=True)
class HttpError:
    """The upstream answers with an HTTP error (500 makes OpenCode retry, 400 is final)."""

    status: int
    message: str = "fake upstream failure"


@dataclass(frozen=True)
class Garbage:
    """A 200 event stream whose chunk is not JSON (OpenCode fails the turn: UnknownError)."""

    body: bytes = b"data: {not json\n\n"


@dataclass(frozen=True)
class Stall:
    """The model never answers (until the fake is reset): a turn that runs until stopped."""


Reply = Text | ToolCall | ToolCalls | HttpError | Garbage | Stall


@dataclass
class FakeLLM:
    url: str = ""
    replies: list[Reply] = field(default_factory=list)
    # replies reserved for requests whose user messages contain a marker: (marker, replies)
    keyed: list[tuple[str, list[Reply]]] = field(default_factory=list)
    # a reply that repeats for every call until reset (e.g. a 500 that never heals)
    sticky: Reply | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # set at reset: a stalled answer gives up, so no handler thread outlives its test
    released: threading.Event = field(default_factory=threading.Event)

    def script(self, *replies: Reply, when: str | None = None) -> None:
        """Queue replies; with `when`, only for requests whose user messages contain that text
        (so concurrent sessions each get their own script)."""
        with self.lock:
            if when is None:
                self.replies.extend(replies)
            else:
                self.keyed.append((when, list(replies)))

    def always(self, reply: Reply | None) -> None:
        with self.lock:
            self.sticky = reply

    def reset(self) -> None:
        with self.lock:
            self.replies.clear()
            self.keyed.clear()
            self.requests.clear()
            self.sticky = None
            self.released.set()
            self.released = threading.Event()

    def texts(self) -> list[str]:
        """Every user and tool message text the model was shown, in request order."""
        out: list[str] = []
        for body in list(self.requests):
            for message in body.get("messages", []):
                if message.get("role") not in ("user", "tool"):
                    continue
                content = message.get("content")
                if isinstance(content, str):
                    out.append(content)
                elif isinstance(content, list):
                    out.extend(p.get("text", "") for p in content if isinstance(p, dict))
        return out

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            if _is_title_request(body):
                return Text("Fake title")
            self.requests.append(body)
            users = json.dumps([m for m in body.get("messages", []) if m.get("role") == "user"])
            for marker, queue in self.keyed:
                if queue and marker in users:
                    return queue.pop(0)
            if self.replies:
                return self.replies.pop(0)
            if self.sticky is not None:
                return self.sticky
        last = (body.get("messages") or [{}])[-1]
        if last.get("role") == "tool":
            content = last.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return Text(f"Tool finished: {content}")
        return Text("Hello from fake LLM")


def _is_title_request(body: dict[str, Any]) -> bool:
    # OpenCode names an untitled session with a tool-less call whose system prompt asks for a title.
    if body.get("tools"):
        return False
    system = " ".join(
        m.get("content", "") if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
        for m in body.get("messages", [])
        if m.get("role") == "system"
    )
    return "title" in system.lower()


def _chunk(
    delta: dict[str, Any] | None, finish: str | None = None, usage: tuple[int, int] = (0, 0)
) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if delta is None:
        prompt, completion = usage
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _stream(reply: Text | ToolCall | ToolCalls) -> list[bytes]:
    if isinstance(reply, Text):
        chunks = [_chunk({"role": "assistant", "content": ""})]
        words = reply.text.split(" ")
        chunks += [
            _chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words) if reply.text
        ]
        chunks.append(_chunk({}, "stop"))
    else:
        calls = reply.calls if isinstance(reply, ToolCalls) else (reply,)
        chunks = []
        for index, call in enumerate(calls):
            start = {"index": index, "id": f"call_fake_{index + 1}", "type": "function"}
            start["function"] = {"name": call.name, "arguments": ""}
            chunks.append(_chunk({"tool_calls": [start]}))
            arguments = json.dumps(call.arguments)
            piece = {"index": index, "function": {"arguments": arguments}}
            chunks.append(_chunk({"tool_calls": [piece]}))
        chunks.append(_chunk({}, "tool_calls"))
    chunks.append(_chunk(None, usage=reply.usage))
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def _handler(llm: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            body = json.dumps({"object": "list", "data": [{"id": "fake-model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            reply = llm.next_reply(body)
            if isinstance(reply, HttpError):
                kind = "server_error" if reply.status >= 500 else "invalid_request_error"
                error = {"error": {"message": reply.message, "type": kind}}
                data = json.dumps(error).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if isinstance(reply, Stall):
                llm.released.wait()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            try:
                for piece in [reply.body] if isinstance(reply, Garbage) else _stream(reply):
                    self.wfile.write(piece)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextlib.contextmanager
def serve_fake_llm() -> Iterator[FakeLLM]:
    """The fake LLM on 127.0.0.1 for as long as the block runs (benchmarks use it too)."""
    llm = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(llm))
    server.daemon_threads = True
    llm.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield llm
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLM]:
    with serve_fake_llm() as llm:
        yield llm


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM) -> Iterator[FakeLLM]:
    fake_llm_server.reset()
    yield fake_llm_server
    fake_llm_server.reset()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def opencode_config(llm_url: str) -> dict[str, Any]:
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "options": {"baseURL": llm_url, "apiKey": "x"},
                "models": {
                    "fake-model": {
                        "name": "Fake model",
                        "tool_call": True,
                        # images reach the model as image parts (else OpenCode replaces them)
                        "attachment": True,
                        "modalities": {"input": ["text", "image"], "output": ["text"]},
                        "limit": {"context": 100000, "output": 4096},
                        "cost": {"input": PRICE_INPUT, "output": PRICE_OUTPUT},
                    }
                },
            }
        },
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
        "enabled_providers": ["fake"],
        "autoupdate": False,
        "share": "disabled",
    }


def opencode_env(home: Path, llm_url: str) -> dict[str, str]:
    """The environment a test's `opencode serve` runs in: this one without OPENCODE_*, HOME and
    the XDG dirs under `home`, the flags of OPENCODE.md and the fake LLM as its only model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE")}
    for name in (
        "HOME",
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env.update(
        OPENCODE_DISABLE_MODELS_FETCH="1",
        OPENCODE_DISABLE_AUTOUPDATE="1",
        OPENCODE_DISABLE_LSP_DOWNLOAD="1",
        OPENCODE_DISABLE_SHARE="1",
        OPENCODE_CONFIG_CONTENT=json.dumps(opencode_config(llm_url)),
    )
    # the background plugin install must not reach a registry from a test
    env["npm_config_offline"] = "true"
    return env


class OpenCodeProcess:
    """One `opencode serve` child process with its own HOME; restartable on the same port."""

    def __init__(self, binary: Path, home: Path, llm_url: str, password: str | None) -> None:
        self.binary = binary
        self.home = home
        self.password = password
        self.username = "opencode"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "opencode.log"
        self.env = self._env(llm_url)
        self.process: subprocess.Popen[bytes] | None = None

    def _env(self, llm_url: str) -> dict[str, str]:
        env = opencode_env(self.home, llm_url)
        if self.password:
            env["OPENCODE_SERVER_PASSWORD"] = self.password
        return env

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password) if self.password else None

    def start(self, timeout: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self.binary), "serve", "--hostname", "127.0.0.1", "--port", str(self.port)],
            cwd=self.home,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"opencode exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                r = httpx.get(f"{self.url}/global/health", auth=self.auth, timeout=1)
                if r.status_code == 200 and r.json().get("healthy"):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"opencode not healthy in {timeout}s:\n{self.log_path.read_text()[-3000:]}"
        )

    def kill(self) -> None:
        """Die at once, mid-turn, as a crashed server would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def _abort_busy(self) -> None:
        # A session blocked on a permission ignores SIGTERM: abort busy sessions first.
        try:
            sessions = httpx.get(f"{self.url}/session", auth=self.auth, timeout=2).json()
            directories = {s.get("directory") for s in sessions}
            for directory in directories:
                params = {"directory": directory}
                status = httpx.get(
                    f"{self.url}/session/status", params=params, auth=self.auth, timeout=2
                ).json()
                for session_id in status:
                    httpx.post(
                        f"{self.url}/session/{session_id}/abort",
                        params=params,
                        auth=self.auth,
                        timeout=2,
                    )
        except (httpx.HTTPError, ValueError):
            pass

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        self._abort_busy()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # the background npm install may outlive the server; end the whole group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def require_opencode_binary() -> Path:
    binary = find_opencode_binary()
    if binary is None:
        reason = (
            "opencode binary not found: set FOREMAN_OPENCODE_BIN or run the README test command "
            "(npm install --prefix .venv/opencode opencode-ai@1.18.33)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def start_opencode(llm: FakeLLM, home: Path, password: str | None = PASSWORD) -> OpenCodeProcess:
    server = OpenCodeProcess(require_opencode_binary(), home, llm.url, password)
    server.start()
    return server


@pytest.fixture(scope="session")
def opencode_server(
    fake_llm_server: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenCodeProcess]:
    server = start_opencode(fake_llm_server, tmp_path_factory.mktemp("opencode-home"))
    try:
        yield server
    finally:
        server.stop()

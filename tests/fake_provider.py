"""A fake Anthropic Messages API on 127.0.0.1 that can fail the way the real one does.

Point the real SDK at it with ``ANTHROPIC_BASE_URL`` (see the ``fake_anthropic`` fixture), so a
test drives Foreman's whole model path: the model string, pydantic-ai's Anthropic model, the
SDK's HTTP client. Script replies with ``fake.script(...)``; each request takes the next one and,
once the script is empty, the last is repeated. Both the plain and the streamed (SSE) form of a
reply are served, whichever the request asks for.

Replies: ``Say`` (text), ``Use`` (a tool call), ``Fail`` (an HTTP error with Anthropic's error
body), ``Hang`` (never answers), ``Drop`` (closes the connection before answering), ``CutStream``
(starts the reply, then closes the connection mid-way).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic_ai import models

MODEL = "anthropic:claude-sonnet-4-5"


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Use:
    tool: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Fail:
    status: int
    error_type: str
    message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang:
    pass


@dataclass(frozen=True)
class Drop:
    pass


@dataclass(frozen=True)
class CutStream:
    """The reply starts (status 200, some text), then the connection closes."""

    text: str = "Half a"


Reply = Say | Use | Fail | Hang | Drop | CutStream


class FakeAnthropic:
    def __init__(self) -> None:
        self.replies: list[Reply] = [Say("Hello from the fake provider.")]
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # set at shutdown, so a Hang ends
        self.url = ""

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def next_reply(self, body: dict[str, Any]) -> Reply:
        self.requests.append(body)
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _message(content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def _content(reply: Say | Use) -> tuple[dict[str, Any], str]:
    if isinstance(reply, Say):
        return {"type": "text", "text": reply.text}, "end_turn"
    block = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}", "name": reply.tool}
    return {**block, "input": reply.args}, "tool_use"


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode()


def _stream_start(block: dict[str, Any]) -> list[bytes]:
    empty = {**block, "input": {}} if block["type"] == "tool_use" else {**block, "text": ""}
    message = _message([], None)  # type: ignore[arg-type]
    return [
        _sse("message_start", {"message": message}),
        _sse("content_block_start", {"index": 0, "content_block": empty}),
    ]


def _stream(reply: Say | Use) -> list[bytes]:
    block, stop = _content(reply)
    if block["type"] == "text":
        delta = {"type": "text_delta", "text": block["text"]}
    else:
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    return [
        *_stream_start(block),
        _sse("content_block_delta", {"index": 0, "delta": delta}),
        _sse("content_block_stop", {"index": 0}),
        _sse(
            "message_delta",
            {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}},
        ),
        _sse("message_stop", {}),
    ]


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _handler(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            reply = fake.next_reply(body)
            streamed = bool(body.get("stream"))
            if isinstance(reply, Hang):
                fake.release.wait(60)
                self.close_connection = True
            elif isinstance(reply, Drop):
                self.close_connection = True
            elif isinstance(reply, Fail):
                error = {
                    "type": "error",
                    "error": {"type": reply.error_type, "message": reply.message},
                }
                self._send(reply.status, json.dumps(error).encode(), reply.headers)
            elif isinstance(reply, CutStream):
                self.send_response(200)
                if streamed:  # chunked, as the real API sends it: the cut leaves a chunk open
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    block = {"type": "text", "text": ""}
                    delta = {"type": "text_delta", "text": reply.text}
                    events = [
                        *_stream_start(block),
                        _sse("content_block_delta", {"index": 0, "delta": delta}),
                    ]
                    for chunk in events:
                        self.wfile.write(_chunk(chunk))
                    self.wfile.write(b"400\r\npartial")
                else:
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", "4096")
                    self.end_headers()
                    self.wfile.write(b'{"id": "msg_cut", "type": "mess')
                self.wfile.flush()
                self.close_connection = True
            elif streamed:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in _stream(reply):
                    self.wfile.write(_chunk(chunk))
                self.wfile.write(b"0\r\n\r\n")
            else:
                block, stop = _content(reply)
                self._send(200, json.dumps(_message([block], stop)).encode())

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def serving() -> Iterator[FakeAnthropic]:
    """The fake provider listening on 127.0.0.1 (its address in `url`) until the block ends."""
    fake = FakeAnthropic()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """The fake provider, with the real Anthropic SDK pointed at it and allowed to call it.

    `ALLOW_MODEL_REQUESTS` is lifted only for this test, and only because every request goes to
    this server on 127.0.0.1.
    """
    with serving() as fake:
        yield from _pointed_at(fake, monkeypatch)


def _pointed_at(fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    monkeypatch.setenv("FOREMAN_MODEL", MODEL)
    with models.override_allow_model_requests(True):
        yield fake

"""A fake OpenAI-compatible transcription server on 127.0.0.1 (`POST …/audio/transcriptions`).

It reads the multipart form the real endpoint reads (file, model, prompt, response_format),
records each request, and answers `{"text": …}` with the uploaded "audio" decoded as UTF-8 —
the tests' voice notes are text, so what was said is what the file holds.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Transcription:
    path: str
    authorization: str | None
    fields: dict[str, str]
    filename: str | None
    audio: bytes


@dataclass
class FakeTranscriptionServer:
    requests: list[Transcription] = field(default_factory=list)
    status: int = 200  # what to answer; 401 plays a wrong key

    def start(self) -> FakeTranscriptionServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
        form = BytesParser(policy=HTTP).parsebytes(head + body)
        fields: dict[str, str] = {}
        audio, filename = b"", None
        for part in form.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "file":
                audio, filename = payload, part.get_filename()
            else:
                fields[str(name)] = payload.decode()
        self.requests.append(
            Transcription(
                request.path, request.headers.get("Authorization"), fields, filename, audio
            )
        )
        if request.path.endswith("/audio/transcriptions") and self.status == 200:
            status, answer = 200, {"text": audio.decode() + "\n"}
        else:
            status = self.status if self.status != 200 else 404
            answer = {"error": {"message": "no", "type": "invalid_request_error"}}
        data = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

"""A fake Telegram Bot API server on 127.0.0.1 that real python-telegram-bot talks to.

It speaks the Bot API's wire format (form-encoded or JSON requests, `{"ok": …, "result": …}`
answers, long-polled `getUpdates`), records every call, and lets a test inject updates as if
users wrote or pressed something. It runs in a thread, so a bot in another process (the
`foreman serve` subprocess test) can use it too.

It refuses what the real API refuses (/work/shared/TELEGRAM.md): a callback answered late, twice
or never issued; empty or over-long text; edits of unknown messages or to the same content;
users who never started the bot; a group that became a supergroup (`migrate_to_chat_id`);
closed, deleted or General forum topics; a second poller (409); documents that are empty,
past 50 MB (413) or with a caption past 1024 characters. A document the bot sent is served
back by getFile and the file download, as the real API does. Forum topics are made, closed,
reopened and deleted as the real API does it (`createForumTopic` only in a forum supergroup whose
admins gave the bot `can_manage_topics`), each leaving its service message in the topic.
"""

from __future__ import annotations

import itertools
import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

BOT = {
    "id": 7000001,
    "is_bot": True,
    "first_name": "Foreman",
    "username": "foreman_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": True,
    "supports_inline_queries": False,
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when the bot made it


@dataclass
class FakeTelegram:
    token: str = "123456:TEST-TOKEN"
    calls: list[Call] = field(default_factory=list)
    # method -> list of (status, description, retry_after) answers served before the real one
    failures: dict[str, list[tuple[int, str, int | None]]] = field(default_factory=dict)
    # the real API gives a callback query some seconds; later answers are refused
    answer_deadline: float = 10.0
    # users who never pressed Start (or blocked the bot): the bot cannot write to them
    never_started: set[int] = field(default_factory=set)
    blocked: set[int] = field(default_factory=set)
    # a group upgraded to a supergroup: old id -> new id
    migrated: dict[int, int] = field(default_factory=dict)
    # forum topics by chat: thread id -> "open" | "closed" (deleted ones are simply absent)
    topics: dict[int, dict[int, str]] = field(default_factory=dict)
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    # chats where the bot is an administrator with the `can_manage_topics` right
    manages_topics: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._server: ThreadingHTTPServer | None = None
        self._fetched: list[dict[str, Any]] = []
        self._long_polls = 0  # getUpdates calls with a timeout, waiting right now
        self._pushed_ids: set[int] = set()  # messages users wrote (reply threads start there)
        self._pollers: list[socket.socket] = []  # connections waiting in a long poll
        self._queries: dict[str, float] = {}
        self._pressed: dict[
            str, float
        ] = {}  # every callback query id -> when pressed  # unanswered callback query id -> when pressed
        self._file_numbers = itertools.count(1)
        self._files: dict[str, tuple[str, bytes, int]] = {}  # file_id -> (path, data, size)
        self._downloaded: list[str] = []
        self._topic_names: dict[tuple[int, int], str] = {}
        self._bot_topics: set[tuple[int, int]] = set()  # topics the bot created

    # --- running -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/bot"

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- what users do -------------------------------------------------------------------

    def user(self, user_id: int, name: str = "Ada") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "username": name.lower()}

    def dm(self, user_id: int, text: str, name: str = "Ada") -> int:
        chat = {"id": user_id, "type": "private", "first_name": name}
        return self._push_message(chat, self.user(user_id, name), text)

    def group_message(
        self, chat_id: int, user_id: int, text: str, thread_id: int | None = None
    ) -> int:
        chat = {"id": chat_id, "type": "supergroup", "title": "builders", "is_forum": True}
        if thread_id is not None and thread_id != GENERAL_TOPIC:
            self.topics.setdefault(chat_id, {}).setdefault(thread_id, "open")
        return self._push_message(chat, self.user(user_id), text, thread_id=thread_id)

    def forum(self, chat_id: int, *topics: int) -> None:
        """A forum supergroup with these open topics (the General topic always exists)."""
        self._chats[chat_id] = {
            "id": chat_id,
            "type": "supergroup",
            "title": "builders",
            "is_forum": True,
        }
        self.topics.setdefault(chat_id, {}).update({t: "open" for t in topics})

    def reply_in_group(self, chat_id: int, user_id: int, text: str, reply_to: int) -> int:
        """A reply in a supergroup without topics: Telegram calls the reply chain a thread."""
        chat = {"id": chat_id, "type": "supergroup", "title": "plain"}
        update_id = next(self._update_ids)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id),
            "text": text,
            "message_thread_id": reply_to,
            "reply_to_message": {
                "message_id": reply_to,
                "date": int(time.time()),
                "chat": chat,
                "text": "earlier",
            },
        }
        self._chats[chat_id] = chat
        self._pushed_ids.add(message["message_id"])
        self._push({"update_id": update_id, "message": message})
        return update_id

    def press(self, user_id: int, message: dict[str, Any], data: str) -> int:
        """A press on a button of `message` (as the bot sent it)."""
        update_id = next(self._update_ids)
        with self._cond:
            self._queries[f"cq{update_id}"] = self._pressed[f"cq{update_id}"] = time.monotonic()
        self._push(
            {
                "update_id": update_id,
                "callback_query": {
                    "id": f"cq{update_id}",
                    "from": self.user(user_id),
                    "chat_instance": "ci1",
                    "data": data,
                    "message": message,
                },
            }
        )
        return update_id

    def push_raw(self, update: dict[str, Any]) -> None:
        update = {"update_id": next(self._update_ids), **update}
        self._push(update)

    # --- what the bot did ------------------------------------------------------------------

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        with self._cond:
            return [c.params for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for call in self.calls:
                    # answered: a sent message's `_result` is there to read
                    answered = "_ok" in call.params or "_error" in call.params
                    if call.method == method and answered and predicate(call.params):
                        return call.params
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(c.method, c.params.get("text")) for c in self.calls[-10:]]
                    raise AssertionError(f"no {method} call matched within {timeout}s; {seen}")
                self._cond.wait(remaining)

    def wait_until_consumed(self, update_id: int, timeout: float = 15.0) -> None:
        """Wait until the bot has fetched updates past `update_id` (it acknowledged it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(u["update_id"] == update_id for u in self._fetched):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"update {update_id} was never fetched")
                self._cond.wait(remaining)

    def wait_until_polled(self, timeout: float = 15.0) -> None:
        """Wait until a client waits in a long poll: what a user sends now reaches it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._long_polls:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("nobody long-polled getUpdates")
                self._cond.wait(remaining)

    def wait_until_stale(self, query_id: str, timeout: float = 15.0) -> None:
        """Wait until the real API would refuse to answer this callback query."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                pressed = self._pressed.get(query_id)
                if pressed is not None and time.monotonic() - pressed > self.answer_deadline:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"callback query {query_id} never went stale")
                self._cond.wait(min(remaining, 0.05))

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        with self._cond:
            return self._messages[(chat_id, message_id)]

    # --- internals ----------------------------------------------------------------------------

    def _push_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        text: str,
        thread_id: int | None = None,
    ) -> int:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            "text": text,
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        self._chats[chat["id"]] = chat
        self._pushed_ids.add(message["message_id"])
        update_id = next(self._update_ids)
        self._push({"update_id": update_id, "message": message})
        return update_id

    def _push(self, update: dict[str, Any]) -> None:
        with self._cond:
            self._updates.append(update)
            self._cond.notify_all()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path.startswith("/file/"):
            self._serve_file(request, path)
            return
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            self._refuse_token(request, path)
            return
        method = path[len(prefix) :]
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            params = _multipart(content_type, raw)
        elif content_type.startswith("application/json"):
            params = json.loads(raw.decode() or "{}")
        else:
            params = {key: _decode(key, value) for key, value in parse_qsl(raw.decode())}
        if method != "getUpdates":
            with self._cond:
                self.calls.append(Call(method, params))
                self._cond.notify_all()
        pending = self.failures.get(method)
        if pending:
            status, description, retry_after = pending.pop(0)
            answer: dict[str, Any] = {
                "ok": False,
                "error_code": status,
                "description": description,
            }
            if retry_after is not None:
                answer["parameters"] = {"retry_after": retry_after}
            with self._cond:
                params["_error"] = description
                self._cond.notify_all()
            self._answer(request, status, answer)
            return
        handler = getattr(self, f"_api_{method}", None)
        if method == "getUpdates":
            # a long poll needs its connection: a poller that hung up no longer counts
            def handler(params: dict[str, Any]) -> Any:
                return self._poll(params, request)

        if handler is None:
            with self._cond:
                params["_ok"] = True
                self._cond.notify_all()
            self._answer(request, 200, {"ok": True, "result": True})
            return
        try:
            result = handler(params)
        except Refused as refused:
            with self._cond:
                params["_error"] = refused.description
                self._cond.notify_all()
            answer = {"ok": False, "error_code": refused.status, "description": refused.description}
            if refused.parameters:
                answer["parameters"] = refused.parameters
            self._answer(request, refused.status, answer)
            return
        with self._cond:
            params["_ok"] = True
            self._cond.notify_all()
        self._answer(request, 200, {"ok": True, "result": result})

    def _refuse_token(self, request: BaseHTTPRequestHandler, path: str) -> None:
        # The real API: a well-formed token it does not know is 401 Unauthorized; anything
        # that is not `digits:secret` never reaches a bot and is 404 Not Found.
        token = path.removeprefix("/bot").split("/", 1)[0]
        if _TOKEN_SHAPE.fullmatch(token):
            error = {"ok": False, "error_code": 401, "description": "Unauthorized"}
        else:
            error = {"ok": False, "error_code": 404, "description": "Not Found"}
        self._answer(request, error["error_code"], error)

    def _answer(self, request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the bot gave up on a long poll while shutting down

    # --- the Bot API methods the channel uses --------------------------------------------------

    def _api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT

    def _poll(
        self, params: dict[str, Any], request: BaseHTTPRequestHandler
    ) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        deadline = time.monotonic() + min(timeout, 5.0)
        connection = request.connection
        with self._cond:
            # a poller whose connection is gone (stopped, restarted) no longer counts
            self._long_polls = sum(1 for c in self._pollers if _alive(c))
            if self._long_polls:
                raise Refused(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            # an offset acknowledges every update before it
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if timeout > 0:
                self._pollers.append(connection)
            self._long_polls = len(self._pollers)
            self._cond.notify_all()
            try:
                while not self._updates and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not _alive(connection):
                        break
                    self._cond.wait(min(remaining, 0.2))
            finally:
                if connection in self._pollers:
                    self._pollers.remove(connection)
                self._long_polls = len(self._pollers)
            batch = list(self._updates)
            self._fetched.extend(batch)
            self._cond.notify_all()
            return batch

    def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        self._check_chat(chat_id)
        _check_text(params.get("text", ""))
        self._check_thread(chat_id, params.get("message_thread_id"))
        chat = self._chats.get(chat_id, {"id": chat_id, "type": "private", "first_name": "x"})
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {k: BOT[k] for k in ("id", "is_bot", "first_name", "username")},
            "text": params["text"],
        }
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        with self._cond:
            self._messages[(chat_id, message["message_id"])] = message
        params["_result"] = message
        return message

    def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (int(params["chat_id"]), int(params["message_id"]))
        self._check_chat(key[0])
        _check_text(params.get("text", ""))
        with self._cond:
            if key not in self._messages:
                raise Refused(400, "Bad Request: message to edit not found")
            message = dict(self._messages[key])
            if message["text"] == params["text"] and message.get("reply_markup") == (
                params.get("reply_markup") or None
            ):
                raise Refused(400, NOT_MODIFIED)
            message["text"] = params["text"]
            message.pop("reply_markup", None)
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self._messages[key] = message
        return message

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        with self._cond:
            pressed = self._queries.pop(str(params.get("callback_query_id")), None)
        if pressed is None or time.monotonic() - pressed > self.answer_deadline:
            raise Refused(400, STALE_QUERY)
        if len(params.get("text") or "") > CALLBACK_ANSWER_LIMIT:
            raise Refused(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise Refused(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise Refused(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        scope = (params.get("scope") or {"type": "default"})["type"]
        with self._cond:
            self.commands[scope] = commands
        return True

    def _api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._check_chat(int(params["chat_id"]))
        return True

    def _check_chat(self, chat_id: int) -> None:
        if chat_id in self.migrated:
            raise Refused(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat_id]},
            )
        if chat_id in self.never_started:
            raise Refused(403, "Forbidden: bot can't initiate conversation with a user")
        if chat_id in self.blocked:
            raise Refused(403, "Forbidden: bot was blocked by the user")

    def _check_thread(self, chat_id: int, thread: Any) -> None:
        if not thread:
            return
        thread_id = int(thread)
        chat = self._chats.get(chat_id, {})
        if chat.get("is_forum"):
            state = self.topics.get(chat_id, {}).get(thread_id)
            # the General topic (1) takes messages only without a thread id
            if state is None:
                raise Refused(400, "Bad Request: message thread not found")
            if state == "closed":
                raise Refused(400, "Bad Request: TOPIC_CLOSED")
        elif chat.get("type") == "supergroup":
            # a plain supergroup's "thread" is a reply chain: it must start at a real message
            with self._cond:
                known = any(c == chat_id and m == thread_id for c, m in self._messages)
            if not known and thread_id not in self._pushed_ids:
                raise Refused(400, "Bad Request: message thread not found")

    # --- files: what users upload, getFile and /file/bot<token>/<file_path> -------------------
    #
    # The real API serves a file in two steps: getFile answers a File with a `file_path` (and
    # refuses files past 20 MB with "file is too big"), then a GET on
    # /file/bot<token>/<file_path> returns the bytes; an unknown path is a 404.

    def upload(self, data: bytes, folder: str, suffix: str, size: int | None = None) -> dict:
        """Store a file as Telegram would after a user sent it; its id fields for a message.

        `size` overrides the announced `file_size` (a large file without large test data).
        """
        number = next(self._file_numbers)
        file_id = f"AgAD{number:04d}file"
        meta = {"file_id": file_id, "file_unique_id": f"uniq{number}"}
        meta["file_size"] = len(data) if size is None else size
        with self._cond:
            self._files[file_id] = (f"{folder}/file_{number}{suffix}", data, meta["file_size"])
        return meta

    def voice_message(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        *,
        group: bool = False,
        size: int | None = None,
    ) -> int:
        """A voice note (OGG/Opus, as Telegram's clients record them) in a DM or group."""
        meta = self.upload(data, "voice", ".oga", size)
        voice = {**meta, "duration": 3, "mime_type": "audio/ogg"}
        return self.media_message(chat_id, user_id, {"voice": voice}, group=group)

    def photo_message(
        self, chat_id: int, user_id: int, data: bytes, caption: str = "", *, group: bool = True
    ) -> int:
        """A photo: Telegram sends several sizes, smallest first; the last is the original."""
        thumb = {**self.upload(data[:10], "photos", ".jpg"), "width": 90, "height": 90}
        full = {**self.upload(data, "photos", ".jpg"), "width": 1280, "height": 720}
        fields: dict[str, Any] = {"photo": [thumb, full]}
        if caption:
            fields["caption"] = caption
        return self.media_message(chat_id, user_id, fields, group=group)

    def document_message(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str,
        caption: str = "",
        *,
        size: int | None = None,
        group: bool = True,
    ) -> int:
        meta = self.upload(data, "documents", "." + file_name.rsplit(".", 1)[-1], size)
        fields: dict[str, Any] = {
            "document": {**meta, "file_name": file_name, "mime_type": mime_type}
        }
        if caption:
            fields["caption"] = caption
        return self.media_message(chat_id, user_id, fields, group=group)

    def media_message(
        self, chat_id: int, user_id: int, fields: dict[str, Any], *, group: bool = False
    ) -> int:
        if group:
            chat = {"id": chat_id, "type": "supergroup", "title": "builders", "is_forum": True}
        else:
            chat = {"id": chat_id, "type": "private", "first_name": "Ada"}
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self.user(user_id),
            **fields,
        }
        self._chats[chat_id] = chat
        update_id = next(self._update_ids)
        self._push({"update_id": update_id, "message": message})
        return update_id

    def _api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        """A bot's upload, as the real API takes it: multipart, the file in `document`."""
        chat_id = int(params["chat_id"])
        self._check_chat(chat_id)
        self._check_thread(chat_id, params.get("message_thread_id"))
        upload = params.get("document")
        if not isinstance(upload, Upload):
            raise Refused(400, "Bad Request: there is no document in the request")
        if not upload.data:
            raise Refused(400, "Bad Request: file must be non-empty")
        if len(upload.data) > UPLOAD_LIMIT:
            raise Refused(413, "Request Entity Too Large")
        caption = str(params.get("caption") or "")
        if len(caption) > CAPTION_LIMIT:
            raise Refused(400, "Bad Request: message caption is too long")
        suffix = "." + upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else ""
        meta = self.upload(upload.data, "documents", suffix)
        document = {**meta, "file_name": upload.filename, "mime_type": upload.mime}
        chat = self._chats.get(chat_id, {"id": chat_id, "type": "private", "first_name": "x"})
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {k: BOT[k] for k in ("id", "is_bot", "first_name", "username")},
            "document": document,
        }
        if caption:
            message["caption"] = caption
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        with self._cond:
            self._messages[(chat_id, message["message_id"])] = message
        params["_result"] = message
        return message

    def document_bytes(self, document: dict[str, Any]) -> bytes:
        """What a sent document holds, as getFile and a download would serve it."""
        with self._cond:
            return self._files[document["file_id"]][1]

    def downloads(self) -> list[str]:
        """The file paths the bot downloaded, in order."""
        with self._cond:
            return list(self._downloaded)

    def _api_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            stored = self._files.get(str(params["file_id"]))
        if stored is None:
            raise Refused(400, "Bad Request: invalid file_id")
        path, _, size = stored
        if size > 20 * 1024 * 1024:
            raise Refused(400, "Bad Request: file is too big")
        unique = "uniq" + str(params["file_id"])[4:8].lstrip("0")
        return {
            "file_id": params["file_id"],
            "file_unique_id": unique,
            "file_size": size,
            "file_path": path,
        }

    def _serve_file(self, request: BaseHTTPRequestHandler, path: str) -> None:
        prefix = f"/file/bot{self.token}/"
        path = unquote(path)  # httpx sends the token's colon as %3A
        with self._cond:
            found = [d for p, d, _ in self._files.values() if f"{prefix}{p}" == path]
            if found:
                self._downloaded.append(path.removeprefix(prefix))
        if not found:
            error = {"ok": False, "error_code": 404, "description": "Not Found"}
            self._answer(request, 404, error)
            return
        try:
            request.send_response(200)
            request.send_header("Content-Type", "application/octet-stream")
            request.send_header("Content-Length", str(len(found[0])))
            request.end_headers()
            request.wfile.write(found[0])
        except (BrokenPipeError, ConnectionResetError):
            pass

    # --- forum topics: createForumTopic, closeForumTopic, reopenForumTopic, deleteForumTopic ---
    #
    # A topic is made only in a supergroup with topics enabled (`is_forum`), by an admin with
    # `can_manage_topics`; its id is the id of the "topic created" service message that opens
    # it. The bot may close or reopen a topic it created without that right.

    def plain_group(self, chat_id: int, title: str = "plain") -> None:
        """A supergroup without topics (reply threads only)."""
        self._chats[chat_id] = {"id": chat_id, "type": "supergroup", "title": title}

    def topic_name(self, chat_id: int, thread_id: int) -> str:
        with self._cond:
            return self._topic_names[(chat_id, thread_id)]

    def service_messages(self, chat_id: int, thread_id: int) -> list[str]:
        """The service messages of a topic, oldest first (`forum_topic_created`, …)."""
        with self._cond:
            found = [
                m
                for (c, _), m in sorted(self._messages.items())
                if c == chat_id and m.get("message_thread_id") == thread_id
            ]
        return [k for m in found for k in m if k.startswith("forum_topic_")]

    def close_topic_by_hand(self, chat_id: int, thread_id: int, user_id: int) -> int:
        """An admin closes a topic in the app: its state, and the service message as an update."""
        with self._cond:
            self.topics.setdefault(chat_id, {})[thread_id] = "closed"
        message = self._service_message(chat_id, thread_id, "forum_topic_closed", {})
        message["from"] = self.user(user_id)
        update_id = next(self._update_ids)
        self._push({"update_id": update_id, "message": message})
        return update_id

    def delete_topic_by_hand(self, chat_id: int, thread_id: int) -> None:
        """A topic deleted in the app: it and its messages vanish, with no update."""
        with self._cond:
            self.topics.get(chat_id, {}).pop(thread_id, None)

    def _service_message(
        self, chat_id: int, thread_id: int, kind: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        message_id = thread_id if kind == "forum_topic_created" else next(self._message_ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chats[chat_id],
            "from": {k: BOT[k] for k in ("id", "is_bot", "first_name", "username")},
            "message_thread_id": thread_id,
            "is_topic_message": True,
            kind: body,
        }
        with self._cond:
            self._messages[(chat_id, message_id)] = message
        return message

    def _forum(self, params: dict[str, Any]) -> int:
        chat_id = int(params["chat_id"])
        self._check_chat(chat_id)
        chat = self._chats.get(chat_id)
        if chat is None:
            raise Refused(400, "Bad Request: chat not found")
        if not chat.get("is_forum"):
            raise Refused(400, "Bad Request: the chat is not a forum")
        return chat_id

    def _api_createForumTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._forum(params)
        if chat_id not in self.manages_topics:
            raise Refused(400, "Bad Request: not enough rights to create a topic")
        name = str(params.get("name") or "")
        if not name:
            raise Refused(400, "Bad Request: TOPIC_TITLE_EMPTY")
        if len(name) > TOPIC_NAME_LIMIT:
            raise Refused(400, "Bad Request: TOPIC_TITLE_TOO_LONG")
        color = int(params.get("icon_color") or TOPIC_COLORS[0])
        if color not in TOPIC_COLORS:
            raise Refused(400, "Bad Request: TOPIC_COLOR_INVALID")
        thread_id = next(self._message_ids)
        with self._cond:
            self.topics.setdefault(chat_id, {})[thread_id] = "open"
            self._topic_names[(chat_id, thread_id)] = name
            self._bot_topics.add((chat_id, thread_id))
        self._service_message(
            chat_id, thread_id, "forum_topic_created", {"name": name, "icon_color": color}
        )
        return {"message_thread_id": thread_id, "name": name, "icon_color": color}

    def _topic_state(self, params: dict[str, Any], wanted: str) -> bool:
        chat_id = self._forum(params)
        thread_id = int(params["message_thread_id"])
        with self._cond:
            state = self.topics.get(chat_id, {}).get(thread_id)
            if state is None or thread_id == GENERAL_TOPIC:
                raise Refused(400, "Bad Request: TOPIC_ID_INVALID")
            if chat_id not in self.manages_topics and (chat_id, thread_id) not in self._bot_topics:
                raise Refused(400, "Bad Request: not enough rights to manage topics")
            if state == wanted:
                raise Refused(400, "Bad Request: TOPIC_NOT_MODIFIED")
            self.topics[chat_id][thread_id] = wanted
        kind = "forum_topic_closed" if wanted == "closed" else "forum_topic_reopened"
        self._service_message(chat_id, thread_id, kind, {})
        return True

    def _api_closeForumTopic(self, params: dict[str, Any]) -> bool:
        return self._topic_state(params, "closed")

    def _api_reopenForumTopic(self, params: dict[str, Any]) -> bool:
        return self._topic_state(params, "open")

    def _api_deleteForumTopic(self, params: dict[str, Any]) -> bool:
        chat_id = self._forum(params)
        thread_id = int(params["message_thread_id"])
        with self._cond:
            if chat_id not in self.manages_topics:
                raise Refused(400, "Bad Request: not enough rights to delete a topic")
            if self.topics.get(chat_id, {}).pop(thread_id, None) is None:
                raise Refused(400, "Bad Request: TOPIC_ID_INVALID")
        return True


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request: its name, type and bytes."""

    filename: str
    mime: str
    data: bytes = field(repr=False)


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """The fields of a multipart/form-data body: text as text, file parts as `Upload`."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = BytesParser(policy=default_policy).parsebytes(head + body)
    params: dict[str, Any] = {}
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            params[name] = Upload(filename, part.get_content_type(), data)
        else:
            params[name] = _decode(name, data.decode())
    return params


class Refused(Exception):
    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


GENERAL_TOPIC = 1
TOPIC_NAME_LIMIT = 128
# the six icon colours createForumTopic accepts (the first is used when none is given)
TOPIC_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
CALLBACK_ANSWER_LIMIT = 200
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
UPLOAD_LIMIT = 50 * 1024 * 1024  # sendDocument from a bot
STALE_QUERY = "Bad Request: query is too old and response timeout expired or query id is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


def _check_text(text: str) -> None:
    if not text.strip():
        raise Refused(400, "Bad Request: message text is empty")
    if len(text) > TEXT_LIMIT:
        raise Refused(400, "Bad Request: message is too long")


def _alive(connection: socket.socket) -> bool:
    """Whether the client still holds the connection open (a closed one reads as EOF)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        if not readable:
            return True
        return connection.recv(1, socket.MSG_PEEK) != b""
    except (OSError, ValueError):
        return False


_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_JSON_FIELDS = {"reply_markup", "allowed_updates", "entities", "commands", "scope"}


def _decode(key: str, value: str) -> Any:
    # PTB sends nested objects (reply_markup) as JSON inside the form fields
    return json.loads(value) if key in _JSON_FIELDS else value

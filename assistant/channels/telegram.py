"""Telegram through python-telegram-bot: `Outbound` -> messages and keyboards, by the API rules.

Updates become `Inbound` in `telegram_updates`.

Text is sent without a parse mode, so nothing a builder or a user writes can break the markup
or inject formatting; no escaping is needed and none is done.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx

from assistant.channels._base import ChannelError, ChannelHealth, InboundHandler, Undeliverable
from assistant.channels._chunks import split_text
from assistant.channels.telegram_updates import inbound_from_update
from assistant.messages import (
    ChatRef,
    Choice,
    Inbound,
    Outbound,
    OutboundFile,
    file_size,
    neutral_outbound,
)

if TYPE_CHECKING:
    from telegram import InlineKeyboardMarkup, Update
    from telegram.ext import Application

log = logging.getLogger("foreman.channels.telegram")

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
UPLOAD_LIMIT = 50 * 1024 * 1024  # what a bot may send with sendDocument
CALLBACK_DATA_LIMIT = 64  # bytes
# a row of buttons stays readable on a phone up to about this many characters
_ROW_CHARS = 30
_RETRY_DELAYS = (0.5, 1.0, 2.0)
CALLBACK_ANSWER_LIMIT = 200
WORKING = "working…"
# a press is answered within this long: with the outcome when it is that quick (a refusal shows
# as an alert), else with WORKING; Telegram refuses answers later than a few seconds
ANSWER_WITHIN = 0.5
TOPIC_NAME_LIMIT = 128  # characters of a forum topic's name
GENERAL_TOPIC = "1"  # the General topic of a forum: messages go to it without a thread id
TYPING_EVERY = 4.0  # Telegram shows "typing…" for 5 s; refreshed a little sooner
# (command, description) per scope, e.g. {"all_private_chats": [("help", "…")]}
CommandMenu = Mapping[str, Sequence[tuple[str, str]]]
# a group became a supergroup: (old chat id, new chat id); the owner of bindings updates them
MigrationHandler = Callable[[str, str], object]


class TopicRefused(ChannelError):
    """Telegram will not make or close a topic in this chat, however often asked: the chat is
    not a forum (`not_forum`), the bot lacks the `can_manage_topics` right (`no_rights`), or
    another refusal (`refused`, with Telegram's words in `detail`)."""

    def __init__(
        self, chat_id: str, reason: Literal["not_forum", "no_rights", "refused"], detail: str
    ) -> None:
        super().__init__(f"telegram chat {chat_id}: {detail}")
        self.chat_id = chat_id
        self.reason = reason
        self.detail = detail


def keyboard(choices: tuple[Choice, ...]) -> InlineKeyboardMarkup | None:
    """Buttons whose `callback_data` is the choice's data; short sets share one row."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    if not choices:
        return None
    for choice in choices:
        if len(choice.data.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError(
                f"button {choice.label!r}: callback data {choice.data!r} is longer than "
                f"Telegram's {CALLBACK_DATA_LIMIT} bytes; send an id instead"
            )
    buttons = [InlineKeyboardButton(c.label, callback_data=c.data) for c in choices]
    if sum(len(c.label) for c in choices) <= _ROW_CHARS:
        return InlineKeyboardMarkup([buttons])
    return InlineKeyboardMarkup([[button] for button in buttons])


class TelegramChannel:
    """One bot, long polling by default (or a webhook), sending plain text and inline keyboards."""

    platform = "telegram"
    # a message is edited in place without a sound, and often enough for a ticking status
    live_edits = True

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://api.telegram.org/bot",
        poll_timeout: int = 10,
        webhook_url: str | None = None,
        webhook_listen: str = "127.0.0.1",
        webhook_port: int = 8443,
        retry_delays: tuple[float, ...] = _RETRY_DELAYS,
        commands: CommandMenu | None = None,
        on_migrated: MigrationHandler | None = None,
    ) -> None:
        self._token = token
        self.base_url = base_url
        self.poll_timeout = poll_timeout
        self.webhook_url = webhook_url
        self.webhook_listen = webhook_listen
        self.webhook_port = webhook_port
        self.retry_delays = retry_delays
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self.bot_username: str | None = None
        self.last_inbound: datetime | None = None
        self._state = "stopped"
        self._on_inbound: InboundHandler | None = None
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._outage_since: datetime | None = None
        self.commands = commands or {}
        self.on_migrated = on_migrated
        # a forum topic found deleted while sending to it; its owner may make a new one
        self.on_topic_gone: Callable[[ChatRef], object] | None = None
        self.migrations: dict[str, str] = {}  # old chat id -> the supergroup it became
        self._conflict = False

    def _build(self) -> Application[Any, Any, Any, Any, Any, Any]:
        from telegram import Update
        from telegram.ext import AIORateLimiter, ApplicationBuilder, TypeHandler

        app = (
            ApplicationBuilder()
            .token(self._token)
            .base_url(self.base_url)
            .base_file_url(file_url(self.base_url))
            # 429s are waited out and retried by the rate limiter itself
            .rate_limiter(AIORateLimiter(max_retries=3))
            .get_updates_request(
                _polling_request(self._polled, read_timeout=self.poll_timeout + 10)
            )
            # a slow assistant turn in one chat must not hold up a builder's group;
            # order within one chat is kept by a lock per chat below
            .concurrent_updates(True)
            .build()
        )
        app.add_handler(TypeHandler(Update, self._on_update))
        app.add_error_handler(self._on_error)
        return app

    async def start(self, on_inbound: InboundHandler) -> None:
        self._on_inbound = on_inbound
        from telegram.error import InvalidToken, NetworkError

        if self.webhook_url:
            import importlib.util

            # python-telegram-bot serves webhooks with tornado, an optional part
            if importlib.util.find_spec("tornado") is None:
                raise ChannelError(
                    "telegram webhook_url needs the webhook server: "
                    "pip install 'foreman-assistant[webhooks]' (or unset it to poll)"
                )
        self.app = app = self._build()
        try:
            await app.initialize()
        except InvalidToken:
            self.app = None
            raise ChannelError(
                "telegram: the bot token was refused (check FOREMAN_TELEGRAM_TOKEN)"
            ) from None
        except NetworkError as exc:
            self.app = None
            # the message never includes the URL, which would carry the token
            host = httpx.URL(self.base_url).host
            raise ChannelError(f"telegram: cannot reach {host}: {type(exc).__name__}") from None
        self.bot_username = app.bot.username
        if not self.webhook_url:
            await self._refuse_second_poller(app)
        await self._set_commands(app)
        await app.start()
        assert app.updater is not None
        if self.webhook_url:
            try:
                await app.updater.start_webhook(
                    listen=self.webhook_listen,
                    port=self.webhook_port,
                    webhook_url=self.webhook_url,
                    # Telegram echoes it in a header: requests without it are not Telegram's
                    secret_token=hashlib.sha256(self._token.encode()).hexdigest()[:64],
                    drop_pending_updates=False,
                )
            except RuntimeError as exc:
                await app.stop()
                await app.shutdown()
                self.app = None
                raise ChannelError(f"telegram webhook: {exc}") from None
            self._state = "webhook"
        else:
            await app.updater.start_polling(
                timeout=self.poll_timeout,
                allowed_updates=["message", "callback_query"],
                # python-telegram-bot retries with backoff (up to 30 s); we log the outage
                error_callback=self._polling_failed,
            )
            self._state = "polling"
        log.info("telegram: %s as @%s", self._state, self.bot_username)

    async def _refuse_second_poller(self, app: Any) -> None:
        """Telegram serves one poller per token: with another one running, the two would
        steal each other's updates. Found at start, it is a clear refusal."""
        from telegram.error import Conflict, TelegramError

        try:
            # no offset: nothing is acknowledged, the updates stay for the real poll
            await app.bot.get_updates(timeout=0, limit=1)
        except TelegramError as exc:
            if not isinstance(exc, Conflict):
                # an outage is polling's business: it retries and reports it
                log.debug("telegram: the first look for another poller failed: %s", exc)
                return
            await app.shutdown()
            self.app = None
            raise ChannelError(
                f"telegram: another process is already polling @{self.bot_username}; "
                "stop it first (one foreman serve per bot token)"
            ) from None

    async def _set_commands(self, app: Any) -> None:
        """The command menu Telegram shows under "/" (DMs and groups differ)."""
        from telegram import (
            BotCommand,
            BotCommandScopeAllGroupChats,
            BotCommandScopeAllPrivateChats,
        )
        from telegram.error import TelegramError

        scopes = {
            "all_private_chats": BotCommandScopeAllPrivateChats(),
            "all_group_chats": BotCommandScopeAllGroupChats(),
        }
        for name, commands in self.commands.items():
            try:
                await app.bot.set_my_commands(
                    [BotCommand(c, d) for c, d in commands], scope=scopes[name]
                )
            except TelegramError as exc:  # a missing menu is cosmetic: log, keep serving
                log.warning("telegram: setting the %s command menu failed: %s", name, exc)

    async def stop(self) -> None:
        app = self.app
        if app is None:
            return
        # stop fetching first, then let updates already being handled finish their replies
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        self.app = None
        self._state = "stopped"

    def health(self) -> ChannelHealth:
        who = f"as @{self.bot_username}" if self.bot_username else ""
        if self._conflict:
            return ChannelHealth(
                "telegram",
                "conflict",
                who,
                self.last_inbound,
                attention="another process polls this bot token: stop it (one foreman serve "
                "per bot)",
            )
        state = "unreachable" if self._outage_since is not None else self._state
        return ChannelHealth("telegram", state, who, self.last_inbound)

    async def _on_update(self, update: Update, context: object) -> None:
        assert self.app is not None and self._on_inbound is not None
        self._conflict = False  # updates arrive: this process is the poller again
        message = inbound_from_update(update, self.app.bot.id, self.bot_username, self.app.bot)
        query = update.callback_query
        if message is None:
            if query is not None:
                await self._answer_query(query, None)
            return
        self.last_inbound = datetime.now(UTC)
        lock = self._chat_locks.setdefault(message.chat.key, asyncio.Lock())
        async with lock:
            if query is None:
                async with self.typing(message.chat):
                    replies = await self._on_inbound(message)
            else:
                replies = await self._pressed(message, query)
            await self._send_each(replies)

    async def _pressed(self, message: Inbound, query: Any) -> list[Outbound]:
        """Answer the press in time, whatever the action costs; then its replies.

        Each step stands alone: a late answer must not cost the card edit and the result."""
        assert self._on_inbound is not None
        handling = asyncio.ensure_future(self._on_inbound(message))
        done, _ = await asyncio.wait({handling}, timeout=ANSWER_WITHIN)
        if not done:
            await self._answer_query(query, WORKING)
            replies = await handling
        else:
            replies = handling.result()
            refusals = [r.text for r in replies if r.kind == "refusal"]
            # a refusal shows as an alert to the presser, not in the chat
            await self._answer_query(query, refusals[0] if refusals else None, alert=True)
        return [r for r in replies if r.kind != "refusal"]

    async def _answer_query(self, query: Any, text: str | None, alert: bool = False) -> None:
        from telegram.error import TelegramError

        if text is not None:
            text = text[:CALLBACK_ANSWER_LIMIT]
        try:
            await query.answer(text, show_alert=alert and text is not None)
        except TelegramError as exc:  # too late or already answered: the spinner stops anyway
            log.warning("telegram: answering a button press failed: %s", exc)

    async def _send_each(self, replies: list[Outbound]) -> None:
        for reply in replies:
            try:
                await self.send(reply)
            except Exception:
                log.exception("telegram: replying in %s failed", reply.chat.key)

    def typing(self, chat: ChatRef) -> _Typing:
        """Show "typing…" in the chat, refreshed, until the block ends."""
        return _Typing(self, chat)

    async def _on_error(self, update: object, context: Any) -> None:
        # the traceback is for -v; otherwise one line says what went wrong
        error = context.error
        log.error(
            "telegram: error while handling an update: %s: %s",
            type(error).__name__,
            error,
            exc_info=error if log.isEnabledFor(logging.INFO) else None,
        )

    def _polling_failed(self, error: Exception) -> None:
        """Fetching updates failed: one line when an outage starts, none while it lasts."""
        from telegram.error import Conflict

        if isinstance(error, Conflict):
            if not self._conflict:
                log.error("telegram: another process polls this bot token; stop one of them")
            self._conflict = True
            return
        if self._outage_since is None:
            self._outage_since = datetime.now(UTC)
            log.warning(
                "telegram: cannot reach the Bot API (%s: %s); retrying with backoff",
                type(error).__name__,
                error,
            )
        else:
            log.debug("telegram: still unreachable: %s", error)

    def _polled(self) -> None:
        """Fetching updates worked: one line when that ends an outage."""
        if self._outage_since is not None:
            seconds = (datetime.now(UTC) - self._outage_since).total_seconds()
            self._outage_since = None
            log.warning("telegram: the Bot API is reachable again (after %.0f s)", seconds)

    async def send(self, message: Outbound) -> str | None:
        """Send (or edit, with `replaces_message_id`); returns the id of the last message sent.

        A group that became a supergroup is followed (and reported to `on_migrated`); a
        closed or vanished topic gets the message in the group's main thread instead."""
        from telegram.error import BadRequest, ChatMigrated

        # titles, names and builder output are data: no escapes, controls or bidi reach the chat
        message = neutral_outbound(message)
        chat = message.chat
        migrated = self.migrations.get(chat.chat_id)
        if migrated is not None:
            chat = replace(chat, chat_id=migrated)
        try:
            return await self._send_to(chat, message)
        except ChatMigrated as exc:
            new_id = str(exc.new_chat_id)
            self._migrated(chat.chat_id, new_id)
            return await self._send_to(replace(chat, chat_id=new_id), message)
        except BadRequest as exc:
            reason = str(exc).lower()
            gone = "topic_closed" in reason or "thread not found" in reason
            if not gone or chat.thread_id is None or message.replaces_message_id is not None:
                raise
            log.warning("telegram: topic %s of %s: %s", chat.thread_id, chat.chat_id, exc)
            note = "closed" if "topic_closed" in reason else "not found"
            if note == "not found":
                self._topic_gone(chat)
            moved = replace(message, text=f"(topic {note}) {message.text}")
            return await self._send_to(replace(chat, thread_id=None), moved)

    async def create_topic(self, chat_id: str, name: str) -> ChatRef:
        """A new forum topic named `name` in the group; the answer carries its thread id.

        Raises `TopicRefused` for what a retry cannot change, `ChannelError` for the rest."""
        topic = await self._topic_call(chat_id, "create_forum_topic", name=name[:TOPIC_NAME_LIMIT])
        return ChatRef("telegram", str(chat_id), str(topic.message_thread_id), is_direct=False)

    async def close_topic(self, chat: ChatRef) -> bool:
        """Close a forum topic; False when it was closed already or no longer exists."""
        assert chat.thread_id is not None
        try:
            await self._topic_call(
                chat.chat_id, "close_forum_topic", message_thread_id=int(chat.thread_id)
            )
        except TopicRefused as exc:
            gone = ("topic_not_modified", "topic_id_invalid", "thread not found")
            if any(words in exc.detail.lower() for words in gone):
                return False
            raise
        return True

    async def _topic_call(self, chat_id: str, method: str, **kwargs: Any) -> Any:
        from telegram.error import BadRequest, ChatMigrated, TelegramError

        if self.app is None:
            raise ChannelError("telegram channel is not started")
        chat_id = self.migrations.get(chat_id, chat_id)
        call = getattr(self.app.bot, method)
        try:
            try:
                return await self._retrying(call, chat_id=int(chat_id), **kwargs)
            except ChatMigrated as exc:
                new_id = str(exc.new_chat_id)
                self._migrated(chat_id, new_id)
                chat_id = new_id
                return await self._retrying(call, chat_id=int(new_id), **kwargs)
        except BadRequest as exc:
            detail = str(exc)
            lowered = detail.lower()
            reason: Literal["not_forum", "no_rights", "refused"] = "refused"
            if "not a forum" in lowered:
                reason = "not_forum"
            elif "not enough rights" in lowered:
                reason = "no_rights"
            raise TopicRefused(chat_id, reason, detail) from exc
        except Undeliverable as exc:  # the bot was removed from the group
            raise TopicRefused(chat_id, "refused", str(exc)) from exc
        except TelegramError as exc:
            raise ChannelError(f"telegram chat {chat_id}: {type(exc).__name__}: {exc}") from exc

    def _topic_gone(self, chat: ChatRef) -> None:
        if self.on_topic_gone is not None:
            try:
                self.on_topic_gone(chat)
            except Exception:
                log.exception("telegram: recording that topic %s is gone failed", chat.key)

    def _migrated(self, old_id: str, new_id: str) -> None:
        log.warning("telegram: chat %s became supergroup %s", old_id, new_id)
        self.migrations[old_id] = new_id
        if self.on_migrated is not None:
            try:
                self.on_migrated(old_id, new_id)
            except Exception:
                log.exception("telegram: recording the move of %s to %s failed", old_id, new_id)

    async def _send_to(self, chat: ChatRef, message: Outbound) -> str | None:
        if self.app is None:
            raise RuntimeError("telegram channel is not started")
        bot = self.app.bot
        chat_id = int(chat.chat_id)
        markup = keyboard(message.choices)
        pieces = [p for p in split_text(message.text, MESSAGE_LIMIT) if p.strip()]
        if message.replaces_message_id is not None:
            await self._retrying(
                bot.edit_message_text,
                text=pieces[0] if pieces else message.text,
                chat_id=chat_id,
                message_id=int(message.replaces_message_id),
                reply_markup=markup if len(pieces) <= 1 else None,
            )
            if len(pieces) <= 1:
                return message.replaces_message_id
            # what does not fit the edited message follows it, as new messages
            pieces = pieces[1:]
        thread = chat.thread_id if chat.thread_id != GENERAL_TOPIC else None
        if message.files and message.replaces_message_id is None:
            return await self._send_with_files(chat, message)
        if not pieces:
            return None  # Telegram refuses empty text; there is nothing to say
        sent_id: str | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            sent = await self._retrying(
                bot.send_message,
                chat_id=chat_id,
                text=piece,
                message_thread_id=int(thread) if thread else None,
                reply_markup=markup if last else None,
                # progress arrives without a sound; what needs the user rings
                disable_notification=message.priority == "progress",
            )
            sent_id = str(sent.message_id) if sent is not None else sent_id
        return sent_id

    async def _send_with_files(self, chat: ChatRef, message: Outbound) -> str | None:
        """The text, then each file as a document; a lone file under a short text without
        choices goes as one document with the text as its caption."""
        files = message.files
        if (
            len(files) == 1
            and _unsendable(files[0]) is None
            and not message.choices
            and len(message.text) <= CAPTION_LIMIT
        ):
            return await self._send_document(chat, message, files[0], message.text)
        sent_id = await self._send_to(chat, replace(message, files=()))
        for file in files:
            sent_id = await self._send_document(chat, message, file, "") or sent_id
        return sent_id

    async def _send_document(
        self, chat: ChatRef, message: Outbound, file: OutboundFile, caption: str
    ) -> str | None:
        from telegram import InputFile

        refusal = _unsendable(file)
        if refusal is not None:
            # Telegram would refuse it (413, or "file must be non-empty"): one line instead
            return await self._send_to(chat, replace(message, text=refusal, files=(), choices=()))
        assert self.app is not None
        thread = chat.thread_id if chat.thread_id != GENERAL_TOPIC else None
        document = InputFile(file.data, filename=file.filename)
        document.mimetype = file.mime
        sent = await self._retrying(
            self.app.bot.send_document,
            chat_id=int(chat.chat_id),
            document=document,
            caption=caption if caption.strip() else None,
            message_thread_id=int(thread) if thread else None,
            disable_notification=message.priority == "progress",
        )
        return str(sent.message_id) if sent is not None else None

    async def _retrying(self, call: Any, **kwargs: Any) -> Any:
        """Retry server errors and timeouts; a bad request is our bug and is raised at once."""
        from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError

        for attempt, delay in enumerate((*self.retry_delays, None)):
            try:
                return await call(**kwargs)
            except ChatMigrated:
                raise
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return None  # an edit to the same text: already in the wanted state
                raise
            except Forbidden as exc:
                chat = kwargs.get("chat_id")
                raise Undeliverable(f"telegram chat {chat}: {exc}") from None
            except InvalidToken:
                raise
            except NetworkError as exc:
                if delay is None:
                    raise
                log.warning("telegram: %s failed (%s), retry %d", call.__name__, exc, attempt + 1)
                await asyncio.sleep(delay)
        return None


def _unsendable(file: OutboundFile) -> str | None:
    """Why Telegram would refuse this file from a bot, as the one line sent instead."""
    if file.size == 0:
        return f"📎 {file.filename} is empty; nothing to send."
    if file.size > UPLOAD_LIMIT:
        return (
            f"📎 {file.filename} ({file_size(file.size)}) is over the 50 MB Telegram lets a bot "
            "send; not sent."
        )
    return None


def file_url(base_url: str) -> str:
    """Where files are downloaded: `https://api.telegram.org/bot` serves them at `/file/bot`."""
    head, sep, _ = base_url.rstrip("/").rpartition("/bot")
    return f"{head}/file/bot" if sep else base_url


def _polling_request(on_reachable: Callable[[], None], read_timeout: float) -> Any:
    """The HTTP client for getUpdates, telling `on_reachable` whenever the Bot API answered."""
    from telegram.request import HTTPXRequest

    class PollingRequest(HTTPXRequest):
        async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
            code, payload = await super().do_request(*args, **kwargs)
            if code < 500:  # a 5xx is the outage going on, behind a proxy
                on_reachable()
            return code, payload

    # as python-telegram-bot builds its own: one connection, long reads for long polls
    return PollingRequest(connection_pool_size=1, read_timeout=read_timeout)


class _Typing:
    """`sendChatAction typing` now and every few seconds, until the block it guards ends."""

    def __init__(self, channel: TelegramChannel, chat: ChatRef) -> None:
        self.channel = channel
        self.chat = chat
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Typing:
        self._task = asyncio.create_task(self._refresh())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _refresh(self) -> None:
        from telegram.error import TelegramError

        app = self.channel.app
        if app is None:
            return
        thread = self.chat.thread_id if self.chat.thread_id != GENERAL_TOPIC else None
        while True:
            try:
                await app.bot.send_chat_action(
                    int(self.chat.chat_id),
                    "typing",
                    message_thread_id=int(thread) if thread else None,
                )
            except TelegramError as exc:  # cosmetic: never in the way of the reply
                log.debug("telegram: typing in %s: %s", self.chat.key, exc)
                return
            await asyncio.sleep(TYPING_EVERY)

"""Linking a Telegram bot: check the token, name the bot, catch its owner's first DM.

Plain Bot API calls over httpx: setup runs before any channel exists, and the first DM must be
acknowledged (so `foreman serve` does not answer it a second time) before setup returns.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from assistant.setup._errors import SetupError

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
BOTFATHER_HINT = "copy it again from @BotFather (/mybots → your bot → API Token)"


@dataclass(frozen=True)
class Bot:
    id: int
    username: str
    name: str


@dataclass(frozen=True)
class FirstMessage:
    user_id: int
    chat_id: int
    name: str
    username: str | None
    text: str

    def who(self) -> str:
        handle = f" (@{self.username})" if self.username else ""
        return f"{self.name}{handle}, user id {self.user_id}"


def check_token_shape(token: str) -> str:
    """The token stripped, or SetupError when it cannot be a bot token at all."""
    token = token.strip()
    if not TOKEN_SHAPE.fullmatch(token):
        raise SetupError(
            "that is not a bot token (it looks like 123456789:AAH…, digits, a colon and "
            f"a secret); {BOTFATHER_HINT}"
        )
    return token


class BotLink:
    """The few Bot API calls setup needs; the token never appears in what it raises."""

    def __init__(self, token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 40.0):
        self.token = check_token_shape(token)
        self.base_url = base_url
        self._client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, **params: Any) -> Any:
        url = f"{self.base_url}{self.token}/{method}"
        try:
            response = self._client.post(url, json=params)
        except httpx.HTTPError as exc:
            where = self.base_url.removesuffix("/bot")
            raise SetupError(
                f"cannot reach the Telegram Bot API at {where} ({type(exc).__name__}); "
                "check the network and try again"
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code in (401, 404):
            raise SetupError(f"the Bot API refused that token; {BOTFATHER_HINT}")
        if response.status_code == 409:
            raise SetupError(
                "another program is reading this bot's messages (a running `foreman serve`, "
                "or a webhook): stop it, then run `foreman setup telegram` again"
            )
        if not answer.get("ok"):
            description = answer.get("description") or f"HTTP {response.status_code}"
            raise SetupError(f"Telegram answered {method} with: {description}")
        return answer["result"]

    def identify(self) -> Bot:
        """getMe: which bot the token belongs to."""
        me = self._call("getMe")
        return Bot(id=me["id"], username=me.get("username") or "", name=me.get("first_name", ""))

    def skip_backlog(self) -> int:
        """The offset past every update already waiting: only a message sent from now on counts."""
        pending = self._call("getUpdates", timeout=0, allowed_updates=["message"])
        return max((u["update_id"] for u in pending), default=-1) + 1

    def wait_for_dm(self, offset: int, timeout: float) -> tuple[FirstMessage, int] | None:
        """The first private message after `offset`, and the offset past it; None on timeout."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            updates = self._call(
                "getUpdates",
                offset=offset,
                timeout=max(1, min(25, int(remaining))),
                allowed_updates=["message"],
            )
            for update in updates:
                offset = max(offset, update["update_id"] + 1)
                message = update.get("message") or {}
                sender = message.get("from") or {}
                chat = message.get("chat") or {}
                if chat.get("type") != "private" or sender.get("is_bot") or "id" not in sender:
                    continue
                name = " ".join(
                    part for part in (sender.get("first_name"), sender.get("last_name")) if part
                )
                return (
                    FirstMessage(
                        user_id=int(sender["id"]),
                        chat_id=int(chat["id"]),
                        name=name or str(sender["id"]),
                        username=sender.get("username"),
                        text=message.get("text") or "",
                    ),
                    offset,
                )
        return None

    def reply(self, chat_id: int, text: str) -> None:
        self._call("sendMessage", chat_id=chat_id, text=text)

    def acknowledge(self, offset: int) -> None:
        """Confirm every update before `offset`, so the gateway starts after them."""
        self._call("getUpdates", offset=offset, timeout=0, allowed_updates=["message"])

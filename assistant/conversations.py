"""Conversation history per chat: pydantic-ai messages as JSON in the store, bounded, with usage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from assistant.store import Store

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage

    from assistant.agent.metered import Meter

DEFAULT_MAX_MESSAGES = 40
# What the kept history may cost per request, in tokens (≈ bytes / 4 of its JSON): with the
# fixed prompt (about 1k) and a bounded tool result this keeps a request near 5k tokens.
DEFAULT_MAX_TOKENS = 3000


@dataclass(frozen=True)
class ChatUsage:
    """Model requests and tokens spent in one chat, as counted by pydantic-ai."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def _starts_turn(message: ModelMessage) -> bool:
    # A request holding the user's words. After an approved card the next prompt shares its
    # request with the card's tool result; cutting there drops that result with its call.
    return message.kind == "request" and any(p.part_kind == "user-prompt" for p in message.parts)


def _tokens(message: ModelMessage) -> int:
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    return len(ModelMessagesTypeAdapter.dump_json([message])) // 4


def _from_turn_start(messages: list[ModelMessage]) -> list[ModelMessage]:
    """The messages with the first request reduced to the user's words (and system prompts)."""
    first = messages[0]
    if first.kind != "request":
        return messages
    kept = [p for p in first.parts if p.part_kind in ("user-prompt", "system-prompt")]
    if len(kept) == len(first.parts):
        return messages
    return [replace(first, parts=kept), *messages[1:]]


def bound_history(
    messages: list[ModelMessage], max_messages: int, max_tokens: int | None = None
) -> list[ModelMessage]:
    """Drop the oldest whole turns until at most `max_messages` remain and they cost at most
    `max_tokens` (≈ bytes / 4). The newest turn always stays, whole.
    """
    sizes = [_tokens(m) for m in messages] if max_tokens is not None else [0] * len(messages)
    budget = max_tokens if max_tokens is not None else 0
    total = sum(sizes)
    if (len(messages) <= max_messages and total <= budget) or not messages:
        return messages
    starts = [i for i, m in enumerate(messages) if i and _starts_turn(m)]
    dropped_to = 0
    for index in starts:
        total -= sum(sizes[dropped_to:index])
        dropped_to = index
        if len(messages) - index <= max_messages and total <= budget:
            return _from_turn_start(messages[index:])
    # Even the newest turn is over the bound: keep it whole rather than cut inside it.
    return _from_turn_start(messages[starts[-1] :]) if starts else messages


def size_text(size: int) -> str:
    """A file's size as a person reads it: `120 KB`, `2.4 MB`."""
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def without_file_bytes(messages: list[ModelMessage]) -> list[ModelMessage]:
    """The messages with each image or file in a user prompt replaced by a line naming it.

    An image is sent to the model in the turn it came with; kept in the history it would be
    sent (and paid for) again with every later turn, and stored for good.
    """
    from pydantic_ai.messages import BinaryContent, UserContent, UserPromptPart

    def kept(item: UserContent) -> UserContent:
        if not isinstance(item, BinaryContent):
            return item
        kind = "image" if item.is_image else "file"
        return f"[{kind} {item.identifier}, {size_text(len(item.data))}]"

    out: list[ModelMessage] = []
    for message in messages:
        if message.kind == "request" and any(
            isinstance(p, UserPromptPart) and not isinstance(p.content, str) for p in message.parts
        ):
            parts = [
                replace(p, content=[kept(c) for c in p.content])
                if isinstance(p, UserPromptPart) and not isinstance(p.content, str)
                else p
                for p in message.parts
            ]
            message = replace(message, parts=parts)
        out.append(message)
    return out


class ConversationStore:
    """Message history per chat key, kept in the `conversations` table."""

    def __init__(
        self,
        store: Store,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.store = store
        self.max_messages = max_messages
        self.max_tokens = max_tokens

    def load(self, chat_key: str) -> list[ModelMessage]:
        row = self.store.connection.execute(
            "SELECT messages_json FROM conversations WHERE chat_key = ?", (chat_key,)
        ).fetchone()
        if row is None:
            return []
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        return list(ModelMessagesTypeAdapter.validate_json(row["messages_json"]))

    def save(self, chat_key: str, messages: list[ModelMessage], usage: Meter | None = None) -> None:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        kept = bound_history(without_file_bytes(messages), self.max_messages, self.max_tokens)
        payload = ModelMessagesTypeAdapter.dump_json(kept).decode()
        requests = usage.requests if usage else 0
        input_tokens = usage.input_tokens if usage else 0
        output_tokens = usage.output_tokens if usage else 0
        now = datetime.now(UTC).isoformat()
        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO conversations
                   (chat_key, messages_json, requests, input_tokens, output_tokens, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (chat_key) DO UPDATE SET
                     messages_json = excluded.messages_json,
                     requests = requests + excluded.requests,
                     input_tokens = input_tokens + excluded.input_tokens,
                     output_tokens = output_tokens + excluded.output_tokens,
                     updated_at = excluded.updated_at""",
                (chat_key, payload, requests, input_tokens, output_tokens, now),
            )

    def usage(self, chat_key: str) -> ChatUsage:
        row = self.store.connection.execute(
            "SELECT requests, input_tokens, output_tokens FROM conversations WHERE chat_key = ?",
            (chat_key,),
        ).fetchone()
        if row is None:
            return ChatUsage()
        return ChatUsage(row["requests"], row["input_tokens"], row["output_tokens"])

"""Conversation history per chat: pydantic-ai messages as JSON in the store, bounded, with usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from assistant.store import Store

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage
    from pydantic_ai.usage import RunUsage

DEFAULT_MAX_MESSAGES = 40


@dataclass(frozen=True)
class ChatUsage:
    """Model requests and tokens spent in one chat, as counted by pydantic-ai."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def _starts_turn(message: ModelMessage) -> bool:
    # A request holding the user's words and no tool results: dropping everything before it
    # can never separate a tool call from its result.
    if message.kind != "request":
        return False
    kinds = {part.part_kind for part in message.parts}
    return "user-prompt" in kinds and kinds <= {"user-prompt", "system-prompt"}


def bound_history(messages: list[ModelMessage], max_messages: int) -> list[ModelMessage]:
    """Drop the oldest whole turns until at most `max_messages` remain (the newest always stays)."""
    if len(messages) <= max_messages:
        return messages
    for index, message in enumerate(messages):
        if index and _starts_turn(message) and len(messages) - index <= max_messages:
            return messages[index:]
    # Even the newest turn is longer than the bound: keep it whole rather than cut inside it.
    starts = [i for i, m in enumerate(messages) if _starts_turn(m)]
    return messages[starts[-1] :] if starts else messages


class ConversationStore:
    """Message history per chat key, kept in the `conversations` table."""

    def __init__(self, store: Store, max_messages: int = DEFAULT_MAX_MESSAGES) -> None:
        self.store = store
        self.max_messages = max_messages

    def load(self, chat_key: str) -> list[ModelMessage]:
        row = self.store.connection.execute(
            "SELECT messages_json FROM conversations WHERE chat_key = ?", (chat_key,)
        ).fetchone()
        if row is None:
            return []
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        return list(ModelMessagesTypeAdapter.validate_json(row["messages_json"]))

    def save(
        self, chat_key: str, messages: list[ModelMessage], usage: RunUsage | None = None
    ) -> None:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        kept = bound_history(messages, self.max_messages)
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

"""Tiny stand-ins for the assistant and relay ports, for tests of routing and channels."""

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.messages import ChatRef, Choice, Inbound, Outbound


@dataclass
class ScriptedAssistant:
    """Stands in for the assistant behind the router port: records what reached it.

    It answers "change …" with an approval card and resolves presses on that card, the way
    the real assistant's contract says (tests with the real one live in test_end_to_end).
    """

    seen: list[Inbound] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    async def handle(self, message: Inbound) -> list[Outbound]:
        self.seen.append(message)
        data = message.callback_data
        if data is not None:
            verb, _, approval = data.partition(":")
            self.resolved.append(data)
            return [
                Outbound(
                    chat=message.chat,
                    text=f"Approval {approval}: {verb}d.",
                    replaces_message_id=message.message_id,
                )
            ]
        if message.text.startswith("change"):
            return [
                Outbound(
                    chat=message.chat,
                    text="Change 0001 to implementing?",
                    kind="approval_card",
                    choices=(Choice("Approve", "approve:a1"), Choice("Reject", "reject:a1")),
                )
            ]
        return [Outbound(chat=message.chat, text=f"you said: {message.text}")]


@dataclass
class ScriptedRelay:
    """Stands in for the relay: one bound chat, echoes what it was given."""

    bound: set[str] = field(default_factory=set)
    seen: list[Inbound] = field(default_factory=list)

    def binding_for(self, chat: ChatRef) -> object | None:
        return "builder-1" if chat.key in self.bound else None

    async def handle(self, message: Inbound) -> list[Outbound]:
        self.seen.append(message)
        return [
            Outbound(chat=message.chat, text=f"→ builder: {message.text or message.callback_data}")
        ]

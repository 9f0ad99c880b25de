"""The router: decides, for every inbound message, who (if anyone) gets to see it."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from assistant.gateway._cards import CardEdits
from assistant.gateway._media import Media, Say
from assistant.gateway._pairing import Pairing
from assistant.messages import ChatRef, Inbound, Outbound

log = logging.getLogger("foreman.gateway.router")

NOT_YOURS = "Not yours: only the owner of this assistant can press that."
NO_FILES = (
    "📎 In this chat I look at images, not files: paste the part that matters as text, or "
    "send the file in a builder's group (the builder reads it there)."
)


class AssistantPort(Protocol):
    """The personal assistant, as the router sees it."""

    async def handle(self, message: Inbound) -> list[Outbound]: ...


class RelayPort(Protocol):
    """The builder relay, as the router sees it."""

    async def handle(self, message: Inbound) -> list[Outbound]: ...

    def binding_for(self, chat: ChatRef) -> object | None: ...


class Route(enum.Enum):
    ASSISTANT = "assistant"
    RELAY = "relay"
    PAIRING = "pairing"
    REFUSED = "refused"  # a button pressed by someone who may not press it
    IGNORED = "ignored"


@dataclass(frozen=True)
class AllowList:
    """The principals: platform -> user ids authenticated by that platform."""

    users: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, **platforms: Iterable[str]) -> AllowList:
        return cls({name: frozenset(ids) for name, ids in platforms.items()})

    def allows(self, platform: str, user_id: str) -> bool:
        # the terminal is the local user, already authenticated by the operating system
        return platform == "terminal" or user_id in self.users.get(platform, frozenset())


@dataclass(frozen=True)
class PrincipalKeys:
    """The principals as `platform:user_id` keys, read live: the allow-list plus paired users.

    Handed to the assistant and the relay, which check keys themselves as a second line.
    """

    allow: AllowList
    pairing: Pairing | None = None

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str) or ":" not in key:
            return False
        platform, user_id = key.split(":", 1)
        if self.allow.allows(platform, user_id):
            return True
        return self.pairing is not None and self.pairing.is_paired(platform, user_id)

    def __iter__(self) -> Iterator[str]:
        for platform, ids in self.allow.users.items():
            yield from (f"{platform}:{user_id}" for user_id in sorted(ids))
        if self.pairing is not None:
            yield from (f"{p}:{u}" for p, u in self.pairing.paired())


@dataclass
class Router:
    """Principal DMs go to the assistant, bound groups to the relay, everything else nowhere.

    Nothing from a sender who is neither allow-listed nor paired reaches a model: such DMs
    are ignored or, with pairing on, answered with a fixed text holding a pairing code.
    """

    allow: AllowList
    assistant: AssistantPort | None = None
    relay: RelayPort | None = None
    pairing: Pairing | None = None
    pairing_enabled: bool = False
    cards: CardEdits | None = None
    media: Media = field(default_factory=Media)
    # sends a line at once (the gateway's `send`): "🎙 what I heard" before a long turn
    say: Say | None = None

    def principal_keys(self) -> PrincipalKeys:
        return PrincipalKeys(self.allow, self.pairing)

    def is_principal(self, message: Inbound) -> bool:
        return message.sender.key in self.principal_keys()

    def decide(self, message: Inbound) -> Route:
        principal = self.is_principal(message)
        if message.chat.is_direct:
            if principal:
                return Route.ASSISTANT if self.assistant is not None else Route.IGNORED
            if message.callback_data is not None:
                return Route.REFUSED
            return Route.PAIRING if self.pairing_enabled and self.pairing else Route.IGNORED
        if self.relay is None:
            return Route.IGNORED
        if self.relay.binding_for(message.chat) is None:
            # the one thing said in an unbound group that matters: the principal binding it
            binding_it = message.text.strip().startswith("/bind")
            return Route.RELAY if principal and binding_it else Route.IGNORED
        if principal:
            return Route.RELAY
        # a group member who is not the principal may not steer or approve a builder
        return Route.REFUSED if message.callback_data is not None else Route.IGNORED

    async def handle(self, message: Inbound) -> list[Outbound]:
        route = self.decide(message)
        first: list[Outbound] = []
        if route in (Route.ASSISTANT, Route.RELAY) and message.attachment is not None:
            if message.attachment.kind != "voice":
                is_image = message.attachment.mime.startswith("image/")
                if route is Route.ASSISTANT and not is_image:
                    return [Outbound(chat=message.chat, text=NO_FILES, kind="error")]
                # an image for the assistant's model, or a photo or file for the builder,
                # within the limit (the assistant checks its model's own limits)
                refusal = self.media.too_big(message)
                return [refusal] if refusal else await self._routed(route, message)
            heard = await self.media.heard(message, self.say)
            if heard.message is None:
                return heard.replies
            first, message = heard.replies, heard.message
        return [*first, *await self._routed(route, message)]

    async def _routed(self, route: Route, message: Inbound) -> list[Outbound]:
        where = f"{message.chat.key} from {message.sender.key}"
        if route is Route.ASSISTANT:
            assert self.assistant is not None
            replies = await self.assistant.handle(message)
            return self.cards.after_press(message, replies) if self.cards else replies
        if route is Route.RELAY:
            assert self.relay is not None
            return await self.relay.handle(message)
        if route is Route.REFUSED:
            log.warning("refused a button press in %s (%s)", where, message.callback_data)
            return [Outbound(chat=message.chat, text=NOT_YOURS, kind="refusal")]
        if route is Route.PAIRING:
            return self._pairing_reply(message)
        if message.chat.is_direct:
            log.info("ignored a DM %s: not allow-listed", where)
        else:
            log.debug("ignored a group message %s", where)
        return []

    def _pairing_reply(self, message: Inbound) -> list[Outbound]:
        assert self.pairing is not None
        code = self.pairing.request(message.sender)
        if code is None:
            return []
        minutes = max(1, int((code.expires_at - code.created_at).total_seconds() // 60))
        text = (
            f"This assistant is private. Pairing code: {code.code}\n"
            f"Its owner can let you in with `foreman pairing approve {code.code}` "
            f"(the code expires in {minutes} minutes)."
        )
        return [Outbound(chat=message.chat, text=text, kind="pairing")]

"""WhatsApp groups for builders whose project-list binding asks for one.

A `chat_binding` with `platform: whatsapp`, a `group_name` and no `channel_id` asks for a
group. Once the project's builder exists, the gateway creates the group with the
allow-listed users in it and stores the binding, so the relay carries its traffic from then
on. The project list is not edited: the store holds the group's id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from assistant.messages import ChatRef
from assistant.relay import (
    DEFAULT_PATTERNS,
    Binding,
    builder_directory,
    builder_for_project,
    save_binding,
    stored_bindings,
)
from assistant.store import Store

log = logging.getLogger("foreman.gateway.groups")


class GroupCreator(Protocol):
    async def create_group(self, name: str, participants: list[str]) -> ChatRef: ...


class WhatsAppGroups:
    """Creates each requested group once, when its builder is there."""

    def __init__(
        self,
        channel: GroupCreator,
        store: Store,
        workspace_root: Path,
        projects: Callable[[], Iterable[Any]],
        participants: Sequence[str],
        *,
        every_seconds: float = 60.0,
    ) -> None:
        self.channel = channel
        self.store = store
        self.root = workspace_root
        self.projects = projects
        self.participants = list(participants)
        self.every_seconds = every_seconds
        self.refused: set[str] = set()  # builders whose group name WhatsApp would refuse

    def wanted(self) -> list[tuple[Any, str]]:
        """(project, builder) pairs whose binding asks for a group not made yet."""
        have = {b.builder for b in stored_bindings(self.store) if b.platform == "whatsapp"}
        out = []
        for project in self.projects():
            binding = project.chat_binding
            if binding is None or binding.platform != "whatsapp":
                continue
            if binding.channel_id or not binding.group_name:
                continue
            builder = builder_for_project(self.root, project.id)
            if builder in have or builder in self.refused:
                continue
            if not builder_directory(self.root, builder).is_dir():
                continue
            out.append((project, builder))
        return out

    async def once(self) -> list[Binding]:
        from assistant.channels import ChannelError
        from assistant.channels.whatsapp import GroupNameError

        made = []
        for project, builder in self.wanted():
            declared = project.chat_binding
            try:
                chat = await self.channel.create_group(declared.group_name, self.participants)
            except GroupNameError as exc:
                # permanent: retrying the same name would be refused for ever
                self.refused.add(builder)
                log.error("project %s: %s; shorten chat_binding.group_name", project.id, exc)
                continue
            except ChannelError as exc:
                log.warning("whatsapp: %s; trying again in %.0f s", exc, self.every_seconds)
                break
            trigger = declared.trigger if declared.trigger in DEFAULT_PATTERNS else "all_messages"
            binding = Binding(
                platform="whatsapp",
                chat_id=chat.chat_id,
                builder=builder,
                trigger=trigger,
                patterns=tuple(declared.patterns),
            )
            save_binding(self.store, binding, created_by="gateway")
            log.info("whatsapp: group %r created for builder %s", declared.group_name, builder)
            made.append(binding)
        return made

    async def run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception:  # a failed create is retried on the next round
                log.exception("whatsapp: creating a builder group failed")
            await asyncio.sleep(self.every_seconds)

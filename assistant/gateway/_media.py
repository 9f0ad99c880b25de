"""Voice notes become typed text; photos and files are checked before anyone downloads them.

The router calls `Media.prepare` for a message it has already decided to route, so nothing a
stranger sends is downloaded or transcribed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assistant.messages import ChatRef, Inbound, Outbound
from assistant.transcribe import (
    NOT_CONFIGURED,
    Transcriber,
    TranscriptionError,
    transcriber_from_env,
    vocabulary_prompt,
)

log = logging.getLogger("foreman.gateway.media")

DEFAULT_MAX_MB = 20.0
# names that say nothing about the project, or would flood the prompt
_SKIPPED_DIRS = {"node_modules", "__pycache__", "dist", "build", "target", "venv"}
FILE_WORDS = 120


def max_attachment_bytes(env: Mapping[str, str] | None = None) -> int:
    """FOREMAN_MAX_ATTACHMENT_MB (default 20) in bytes; a bad value keeps the default."""
    raw = (os.environ if env is None else env).get("FOREMAN_MAX_ATTACHMENT_MB", "")
    try:
        megabytes = float(raw) if raw.strip() else DEFAULT_MAX_MB
    except ValueError:
        log.warning("FOREMAN_MAX_ATTACHMENT_MB=%r is not a number; using %s", raw, DEFAULT_MAX_MB)
        megabytes = DEFAULT_MAX_MB
    return int(megabytes * 1024 * 1024)


def file_words(directory: Path, limit: int = FILE_WORDS) -> list[str]:
    """File and directory names under `directory`, shallowest first, at most `limit`.

    Breadth-first so the names a user is likely to say (top-level modules) come first; hidden
    entries and dependency folders are skipped.
    """
    words: list[str] = []
    queue = [directory]
    while queue and len(words) < limit:
        folder = queue.pop(0)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name in _SKIPPED_DIRS:
                continue
            words.append(entry.name)
            if entry.is_dir(follow_symlinks=False):
                queue.append(Path(entry.path))
            if len(words) >= limit:
                break
    return words


Vocabulary = Callable[[ChatRef], Iterable[str]]
Say = Callable[[Outbound], Awaitable[object]]


def workspace_vocabulary(services: Any) -> Vocabulary:
    """Project titles, ids and repo names; in a bound chat, first the builder's file names."""

    def words(chat: ChatRef) -> list[str]:
        found: list[str] = []
        relay = services.relay
        binding = relay.binding_for(chat) if relay is not None and not chat.is_direct else None
        if binding is not None:
            found += [binding.builder, *file_words(Path(relay.directory(binding.builder)))]
        for project in services.projects():
            found += [project.title, project.id]
            found += [repo.rstrip("/").rsplit("/", 1)[-1] for repo in project.repos]
        return found

    return words


@dataclass
class Media:
    """What the router does with an attachment before the message goes where it was routed."""

    transcriber: Transcriber | None = None
    vocabulary: Vocabulary | None = None
    max_bytes: int = int(DEFAULT_MAX_MB * 1024 * 1024)

    @classmethod
    def from_env(cls, vocabulary: Vocabulary | None = None) -> Media:
        return cls(transcriber_from_env(), vocabulary, max_attachment_bytes())

    def too_big(self, message: Inbound) -> Outbound | None:
        """A refusal when the attachment is past the limit, before anything is downloaded."""
        attachment = message.attachment
        if attachment is None or attachment.size is None or attachment.size <= self.max_bytes:
            return None
        size = attachment.size / 1024 / 1024
        limit = self.max_bytes / 1024 / 1024
        text = (
            f"📎 {attachment.filename} is {size:.1f} MB, more than the {limit:g} MB limit "
            "(FOREMAN_MAX_ATTACHMENT_MB); send a smaller file."
        )
        return Outbound(chat=message.chat, text=text, kind="error")

    async def heard(self, message: Inbound, say: Say | None) -> Heard:
        """The voice note as typed text, after telling the chat what was heard.

        `say` sends "🎙 …" at once, so the user can correct a wrong transcript while the
        assistant or builder works; without it the line leads the replies.
        """
        attachment = message.attachment
        assert attachment is not None and attachment.kind == "voice"
        if self.transcriber is None:
            return Heard(None, [Outbound(chat=message.chat, text=NOT_CONFIGURED, kind="error")])
        refusal = self.too_big(message)
        if refusal is not None:
            return Heard(None, [refusal])
        try:
            audio = await attachment.fetch()
        except Exception as exc:  # the platform's client: any failure means "not downloaded"
            log.warning("downloading a voice note in %s failed: %s", message.chat.key, exc)
            return _failed(message, "🎙 I couldn't download that voice note; send it again.")
        words = list(self.vocabulary(message.chat)) if self.vocabulary else []
        try:
            transcript = await self.transcriber.transcribe(
                audio, attachment.filename, vocabulary_prompt(words)
            )
        except TranscriptionError as exc:
            log.warning("transcribing in %s failed: %s", message.chat.key, exc)
            return _failed(message, f"🎙 I couldn't transcribe that voice note: {exc}")
        if not transcript:
            return _failed(message, "🎙 I heard nothing in that voice note; try again or type it.")
        typed = replace(message, text=transcript, attachment=None)
        echo = Outbound(chat=message.chat, text=f"🎙 {transcript}", kind="transcript")
        if say is None:
            return Heard(typed, [echo])
        await say(echo)
        return Heard(typed, [])


@dataclass(frozen=True)
class Heard:
    """A transcribed message to route on (None: nothing to route) and replies to send first."""

    message: Inbound | None
    replies: list[Outbound]


def _failed(message: Inbound, text: str) -> Heard:
    return Heard(None, [Outbound(chat=message.chat, text=text, kind="error")])

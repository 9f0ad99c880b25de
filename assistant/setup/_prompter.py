"""How a setup step talks to the person running it: a terminal, or a script's options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Prompter(Protocol):
    def say(self, text: str) -> None: ...

    def ask(self, question: str, default: str | None = None, *, option: str = "") -> str: ...

    def secret(self, question: str, *, option: str = "") -> str: ...

    def confirm(self, question: str, default: bool = True) -> bool: ...


class MissingAnswer(Exception):
    """Non-interactive setup needs a value it was not given; names the option that gives it."""

    def __init__(self, option: str) -> None:
        super().__init__(option)
        self.option = option


@dataclass(frozen=True)
class Answers:
    """What a script passes as options instead of typing it; None means ask."""

    assume_yes: bool = False
    model: str | None = None
    model_key: str | None = field(default=None, repr=False)
    check_model: bool = False
    telegram_token: str | None = field(default=None, repr=False)
    telegram_users: tuple[str, ...] = ()
    telegram_wait: float = 300.0
    whatsapp_phone: str | None = None
    whatsapp_allowed: tuple[str, ...] = ()
    whatsapp_db: Path | None = None
    opencode_url: str | None = None

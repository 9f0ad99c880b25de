"""The terminal as a chat surface: plain lines, a message's choices numbered beneath it."""

from __future__ import annotations

from assistant.messages import Choice


def terminal_text(text: str, choices: tuple[Choice, ...] = ()) -> str:
    """The text with one `N. label` line per choice; typing N answers with that choice."""
    numbered = [f"{n}. {choice.label}" for n, choice in enumerate(choices, start=1)]
    return "\n".join([text, *numbered])


def chosen(text: str, choices: tuple[Choice, ...]) -> Choice | None:
    """The choice a bare number picks, or None when the text is not one of the numbers."""
    text = text.strip()
    if text.isdigit() and 1 <= int(text) <= len(choices):
        return choices[int(text) - 1]
    return None

"""The terminal as a chat surface: plain lines, a message's choices numbered beneath it, its
files written to a folder (the terminal has no attachments) and their paths printed."""

from __future__ import annotations

from pathlib import Path

from assistant.messages import Choice, OutboundFile, file_size, neutral_filename

# under the state directory: never in the workspace, whose repositories it would make dirty
FILES_FOLDER = "foreman-files"


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


def save_files(files: tuple[OutboundFile, ...], folder: Path) -> list[str]:
    """Write each file into `folder` (an existing name is never overwritten); one line each
    saying where it went."""
    if not files:
        return []
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = []
    for file in files:
        path = _free_path(folder, neutral_filename(file.filename))
        path.write_bytes(file.data)
        path.chmod(0o600)
        lines.append(f"📎 {path.name} ({file_size(file.size)}) saved to {path}")
    return lines


def _free_path(folder: Path, name: str) -> Path:
    stem, dot, suffix = name.partition(".")
    path = folder / name
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{dot}{suffix}"
    return path

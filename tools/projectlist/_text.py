"""A project-list file as lines that can be written back byte for byte."""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools.projectlist._errors import ProjectListError

# Only "\n" ends a line (so "\r\n" stays inside the line); str.splitlines would also split on
# form feeds and Unicode separators, which YAML and Markdown treat as ordinary characters.
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")


@dataclass(frozen=True)
class Document:
    """The decoded text of a file, split into lines that keep their own line endings."""

    lines: tuple[str, ...]
    bom: bool = False

    @classmethod
    def decode(cls, raw: bytes, path: Path) -> Document:
        bom = raw.startswith(codecs.BOM_UTF8)
        body = raw[len(codecs.BOM_UTF8) :] if bom else raw
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = body[: exc.start].count(b"\n") + 1
            raise ProjectListError(
                path, line, f"not valid UTF-8 (byte 0x{body[exc.start]:02x})"
            ) from None
        return cls(tuple(_LINE.findall(text)), bom)

    def encode(self, replacements: Mapping[int, str] | None = None) -> bytes:
        """The file's bytes, with the lines at the given 0-based indexes replaced."""
        lines = self.lines
        if replacements:
            changed = list(lines)
            for index, line in replacements.items():
                changed[index] = line
            lines = tuple(changed)
        body = "".join(lines).encode("utf-8")
        return codecs.BOM_UTF8 + body if self.bom else body


def ending(line: str) -> str:
    """A line's own line ending: "\r\n", "\n" or "" (the last line of a file without one)."""
    if line.endswith("\r\n"):
        return "\r\n"
    return "\n" if line.endswith("\n") else ""


def content(line: str) -> str:
    """A line without its line ending."""
    return line[: len(line) - len(ending(line))]


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()

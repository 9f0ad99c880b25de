"""A project-list file as lines that can be written back byte for byte."""

from __future__ import annotations

import bisect
import codecs
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools.projectlist._errors import ProjectListError

# Only "\n" ends a line (so "\r\n" stays inside the line), as Markdown and editors count lines.
# YAML also breaks lines at a lone CR, NEL, U+2028 and U+2029: positions inside YAML are never
# taken from the parser's line numbers but from its character offsets (see Locator).
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")
# What libyaml counts as a line break (YAML 1.1), besides "\n".
YAML_BREAKS = re.compile("[\r\x85\u2028\u2029]")


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


class Locator:
    """Maps character offsets in a run of a Document's lines to (line index, column).

    libyaml's marks carry a character offset that means the same thing for it and for us,
    whatever each of us counts as a line break; its line numbers do not.
    """

    def __init__(self, doc: Document, start: int, end: int) -> None:
        self.first = start
        self.text = "".join(doc.lines[start:end])
        offsets = [0]
        for line in doc.lines[start:end]:
            offsets.append(offsets[-1] + len(line))
        self._offsets = offsets

    def line(self, index: int) -> int:
        """The Document line index holding the character at `index` (the end of the text is
        on the line after the last one, as YAML's end-of-stream mark is)."""
        found = bisect.bisect_right(self._offsets, index) - 1
        return self.first + (found if found > 0 else 0)

    def column(self, index: int) -> int:
        return index - self._offsets[self.line(index) - self.first]


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

"""Find the YAML in a Markdown project list: fenced blocks and entries written outside them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tools.projectlist._model import Issue
from tools.projectlist._text import Document, content

_FENCE = re.compile(r"^ {0,3}(?P<mark>`{3,}|~{3,})(?P<info>.*)$")
_YAML_INFO = {"yaml", "yml"}
# `  - id: "0055"` written as plain Markdown after a fence closed (seen in real codev files).
_LOOSE_ENTRY = re.compile(r"""^(?P<indent> *)- +id *: *(?P<q>["']?)[A-Za-z0-9_-]+(?P=q) *(#.*)?$""")


@dataclass(frozen=True)
class Block:
    """A run of lines to read as one YAML document; `start`/`end` index Document.lines."""

    start: int
    end: int
    in_fence: bool
    opened_at: int  # 1-based line of the opening fence, or of the first loose entry


def scan(doc: Document, path: Path) -> tuple[list[Block], list[Issue]]:
    """The YAML blocks of a Markdown file, in order, and what looked wrong about its fences."""
    lines = [content(line) for line in doc.lines]
    blocks: list[Block] = []
    issues: list[Issue] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        fence = _FENCE.match(line)
        if fence and not (fence["mark"][0] == "`" and "`" in fence["info"]):
            mark, info = fence["mark"], fence["info"].strip()
            close = re.compile(rf"^ {{0,3}}{re.escape(mark[0])}{{{len(mark)},}}\s*$")
            j = i + 1
            while j < n and not close.match(lines[j]):
                j += 1
            if j == n:
                issues.append(
                    Issue("warning", path, i + 1, "this fence is never closed; read to end of file")
                )
            language = info.split()[0].lower() if info else ""
            if language in _YAML_INFO:
                blocks.append(Block(i + 1, j, in_fence=True, opened_at=i + 1))
            i = j + 1
            continue
        loose = _LOOSE_ENTRY.match(line)
        if loose:
            end = _loose_block_end(lines, i, len(loose["indent"]))
            blocks.append(Block(i, end, in_fence=False, opened_at=i + 1))
            i = end
            while i < n and not lines[i].strip():
                i += 1
            # Writers who forgot to open a fence often still close one after their entries.
            if i < n and (stray := _FENCE.match(lines[i])) and not stray["info"].strip():
                issues.append(
                    Issue(
                        "warning",
                        path,
                        i + 1,
                        "stray closing fence: no fence is open here (the entries above it "
                        "are outside any ```yaml fence)",
                    )
                )
                i += 1
            continue
        i += 1
    return blocks, issues


def _loose_block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the last line of the entries starting at `start` (trailing blanks excluded)."""
    end = start + 1
    j = start + 1
    while j < len(lines):
        line = lines[j]
        if not line.strip():
            j += 1
            continue
        if line[0] in " \t" or (indent == 0 and _LOOSE_ENTRY.match(line)):
            j += 1
            end = j
            continue
        break
    return end

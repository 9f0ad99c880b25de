"""Small generated project lists (the real ones live in the shared corpus)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

TEMPLATE = """# Project List

## Project Format

```yaml
projects:
  - id: "NNNN"              # Four-digit project number
    title: "Brief title"
    status: conceived|specified|planned|implementing|implemented|committed|integrated
    timestamps:
      conceived_at: null
```

## Projects

```yaml
projects:
"""

STAMPED = ("conceived", "specified", "planned", "implementing", "implemented", "committed")


def codev_entry(project_id: str, status: str, *, title: str | None = None) -> str:
    """One codev-style entry with a `timestamps:` block, as codev's template writes it."""
    first = '"2025-12-01T10:00:00-08:00"'
    stamps = "".join(
        f"      {name}_at: {first if name == 'conceived' else 'null'}\n"
        for name in (*STAMPED, "integrated")
    )
    return (
        f'  - id: "{project_id}"\n'
        f'    title: "{title or "Project " + project_id}"\n'
        f"    status: {status}\n"
        "    priority: medium\n"
        "    files:\n"
        f"      spec: codev/specs/{project_id}-x.md\n"
        "      plan: null\n"
        "    dependencies: []\n"
        "    tags: [api]\n"
        "    timestamps:\n"
        f"{stamps}"
        '    notes: ""\n'
    )


def codev_text(projects: Sequence[tuple[str, str]]) -> str:
    return TEMPLATE + "\n".join(codev_entry(pid, status) for pid, status in projects) + "```\n"


def encode(
    text: str, *, newline: str = "\n", bom: bool = False, final_newline: bool = True
) -> bytes:
    if not final_newline:
        text = text.rstrip("\n")
    data = text.replace("\n", newline).encode("utf-8")
    return b"\xef\xbb\xbf" + data if bom else data


@pytest.fixture
def codev_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a codev-style `codev/projectlist.md` with the given (id, status) projects."""

    def write(projects: Sequence[tuple[str, str]] = (("0001", "planned"),), **kw: object) -> Path:
        path = tmp_path / "codev" / "projectlist.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(codev_text(projects), **kw))  # type: ignore[arg-type]
        return path

    return write

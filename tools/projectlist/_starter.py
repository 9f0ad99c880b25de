"""A new workspace's first project list: the design's format, one example entry, the lifecycle."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# The example carries the `example` tag, so every reader skips it (see _parse.read_entry) and a
# fresh workspace lists no projects until the user writes one.
STARTER = """\
# Projects

Foreman reads this list (`foreman projects`) and changes a project's `status:` line only with
your approval. Add one entry per project inside the fence below.

<!--
Lifecycle, left to right (humans may skip steps; a skip or a step back is flagged on the card):
  conceived -> specified -> planned -> implementing -> implemented -> committed -> integrated
  and, outside the line: abandoned, on-hold.
Only a human moves a project into specified or integrated; the assistant always asks.
`repos` names the repositories (folders of this workspace) a builder gets a worktree of;
`chat_binding` (optional) names the Telegram/WhatsApp group or topic the builder talks in.
-->

```yaml
projects:
  # EXAMPLE, skipped because of its `example` tag: copy it, give the copy a real
  # quoted id ("0001"), a real title and status, and drop the tag.
  - id: "0001"
    title: "Example: sign-in page"
    status: conceived
    repos: [app]
    files:
      spec: specs/0001-sign-in.md
    tags: [example]
    notes: "An example entry: Foreman ignores it."
```
"""

AI_PROJECTLIST = Path(".ai") / "projectlist.md"
CODEV_PROJECTLIST = Path("codev") / "projectlist.md"


@dataclass(frozen=True)
class Starter:
    """What `create_projectlist` found or did: `path` is the list the workspace now uses."""

    path: Path
    outcome: Literal["created", "exists", "codev"]


def create_projectlist(directory: Path) -> Starter:
    """Write `<directory>/.ai/projectlist.md` unless the workspace already has a project list.

    Never overwrites: an existing `.ai/projectlist.md` is reported as `exists`, codev's
    `codev/projectlist.md` as `codev` (Foreman reads that one, so nothing is written).
    """
    directory = directory.expanduser().absolute()
    target = directory / AI_PROJECTLIST
    if target.exists():
        return Starter(target, "exists")
    codev = directory / CODEV_PROJECTLIST
    if codev.is_file():
        return Starter(codev, "codev")
    target.parent.mkdir(parents=True, exist_ok=True)
    # "x" mode: a file that appeared since the check above is still never overwritten
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(STARTER)
    return Starter(target, "created")

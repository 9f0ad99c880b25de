"""A builder's changes as a chat attachment: the full patch as a `.diff` file beside the short
summary, so a phone shows the summary and opens the patch in a viewer."""

from __future__ import annotations

from assistant.messages import OUTBOUND_FILE_LIMIT, OutboundFile, file_size
from tools.orchestrator import BuilderDiff

PATCH_MIME = "text/x-diff"


def patch_file(found: BuilderDiff, repo: str | None = None) -> tuple[OutboundFile | None, str]:
    """The patch of `found` (read with `patch=True`) as `NAME.diff`; when there is none to
    attach, None and the line to show instead ("" when nothing changed)."""
    if not found.changed:
        return None, ""
    data = found.patch().encode()
    if not data:  # only commits whose trees are equal (e.g. an empty commit): nothing to open
        return None, ""
    if len(data) > OUTBOUND_FILE_LIMIT:
        return None, (
            f"The full patch ({file_size(len(data))}) is too large to attach; "
            f"`foreman builder diff {found.name} --patch` prints it."
        )
    name = f"{found.name}-{repo}.diff" if repo else f"{found.name}.diff"
    return OutboundFile(name, PATCH_MIME, data), ""

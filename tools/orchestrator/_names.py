"""Builder names, slugs and the containment rule for every path under `.builders/`."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from tools.orchestrator._errors import OrchestratorError

BUILDERS_DIR = ".builders"
WORKSPACE_ROOT = "workspace-root"
BRANCH_PREFIX = "builder/"
MAX_SLUG = 40
MAX_NAME = 100

# Letters, digits, '.', '_' and '-', starting with a letter or digit: no '/', no leading '-'/'.'.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def check_safe(value: object, what: str) -> str:
    """Refuse an id, name or repo that could escape a directory or be read as an option."""
    if isinstance(value, str) and len(value) > MAX_NAME:
        raise OrchestratorError(f"unsafe {what}: longer than {MAX_NAME} characters")
    if not isinstance(value, str) or ".." in value or not _SAFE.match(value):
        raise OrchestratorError(
            f"unsafe {what} {value!r}: use letters, digits and . _ - (not first), without '..'"
        )
    return value


def slugify(title: str, max_length: int = MAX_SLUG) -> str:
    """'New Feature: Ünïcode & more' -> 'new-feature-unicode-more' (lowercase ascii, hyphens)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > max_length:
        # cut at a word boundary when there is one, so slugs do not end mid-word
        cut = slug[:max_length]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug or "builder"


def builder_name(project_id: str, title: str, suffix: str | None = None) -> str:
    """The builder's directory and branch name: `<id>-<slug of title>`, or `<id>-<suffix>`."""
    check_safe(project_id, "project id")
    if suffix is None:
        return f"{project_id}-{slugify(title)}"
    check_safe(suffix, "builder name")
    name = suffix.lower()
    if name.startswith(f"{project_id}-"):
        return name
    return check_safe(f"{project_id}-{name}", "builder name")


def branch_for(name: str) -> str:
    return f"{BRANCH_PREFIX}{name}"


def builders_root(workspace_root: Path) -> Path:
    """`<workspace>/.builders`, refused when it is a link that leads elsewhere."""
    root = Path(workspace_root).resolve()
    builders = root / BUILDERS_DIR
    if builders.is_symlink() or (builders.exists() and builders.resolve() != builders):
        raise OrchestratorError(
            f"{builders} links to {builders.resolve()}; builders must live inside the workspace",
            path=builders,
        )
    return builders


def contained(builders: Path, *parts: str) -> Path:
    """`builders/<parts...>`, resolved, refused unless it stays inside `builders`."""
    path = builders.joinpath(*parts)
    resolved = path.resolve()
    if resolved == builders or not resolved.is_relative_to(builders):
        raise OrchestratorError(f"path {path} leaves {builders}; refused", path=path)
    return resolved


def builder_path(workspace_root: Path, name: str) -> Path:
    """`<workspace>/.builders/<name>`, resolved; refused when the name is unsafe or escapes."""
    check_safe(name, "builder name")
    return contained(builders_root(workspace_root), name)

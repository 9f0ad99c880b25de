"""Read a project list (the design's `.ai/` format or codev's) into the typed model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tools.projectlist._errors import ProjectListError
from tools.projectlist._model import (
    STATUSES,
    ChatBinding,
    Format,
    Issue,
    Project,
    ProjectList,
)
from tools.projectlist._scan import Block, scan
from tools.projectlist._source import EntrySource, Spot
from tools.projectlist._text import Document, content, digest

_KNOWN_KEYS = {"id", "title", "status", "repos", "files", "chat_binding", "tags", "notes"}
_PLACEHOLDER_ID = re.compile(r"[A-Z]+")  # "NNNN", "NNN", "XXXX" in template fences
_TIMESTAMP_KEY = re.compile(r"[A-Za-z][\w-]*_at")
_PATTERN_KEYS = ("patterns", "mention_patterns", "mentions", "prefixes", "prefix")


class _Constructor(SafeConstructor):
    """Safe YAML, except timestamps and zero-padded numbers stay the text the human wrote."""

    def construct_yaml_int(self, node: ScalarNode) -> Any:
        # `dependencies: [0035]` names project "0035", not the number 35.
        text = node.value
        if len(text) > 1 and text.startswith("0") and text.isdigit():
            return text
        return super().construct_yaml_int(node)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


def load(path: Path, *, strict: bool = True) -> ProjectList:
    """Read and parse a project-list file.

    With `strict` (the default) the first error raises ProjectListError; otherwise errors are
    returned in `.issues` with whatever could be read, for `check` to report them all.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProjectListError(path, 0, f"cannot read: {exc.strerror or exc}") from None
    return parse(raw, path, strict=strict)


def parse(raw: bytes, path: Path, *, strict: bool = True) -> ProjectList:
    """Parse the bytes of a project list read from `path`."""
    doc = Document.decode(raw, path)
    blocks, issues = scan(doc, path)
    reader = _Reader(doc, path, issues)
    for block in blocks:
        reader.read_block(block)
    plist = ProjectList(
        path=path,
        format=_format(path, reader.projects),
        projects=tuple(reader.projects),
        issues=tuple(sorted(issues, key=lambda issue: issue.line)),
        digest=digest(raw),
        templates=reader.templates,
        _document=doc,
        _sources=reader.sources,
        _duplicates=frozenset(reader.duplicates),
    )
    if strict and plist.errors:
        first = plist.errors[0]
        more = len(plist.errors) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise ProjectListError(path, first.line, first.message + suffix)
    return plist


def _format(path: Path, projects: list[Project]) -> Format:
    if path.parent.name == ".ai":
        return "ai"
    if any(p.repos or p.chat_binding or "chat_binding" in p.extra for p in projects):
        return "ai"
    return "codev"


class _Reader:
    """Accumulates projects, their source spots and issues, block by block."""

    def __init__(self, doc: Document, path: Path, issues: list[Issue]) -> None:
        self.doc = doc
        self.path = path
        self.issues = issues
        self.projects: list[Project] = []
        self.sources: dict[str, EntrySource] = {}
        self.duplicates: set[str] = set()
        self.templates = 0

    def warn(self, line: int, message: str) -> None:
        self.issues.append(Issue("warning", self.path, line, message))

    def read_block(self, block: Block) -> None:
        text = "".join(self.doc.lines[block.start : block.end])
        # pure=False: libyaml's parser (ruamel.yaml.clib) when installed, else pure Python
        yaml = YAML(typ="safe", pure=False)
        yaml.Constructor = _Constructor
        # Real codev files repeat keys (a second `timestamps:` in one entry); ruamel keeps the
        # first, the spots an edit rewrites follow it, and read_entry warns about it.
        yaml.allow_duplicate_keys = True
        try:
            # `---` may split a fence into several documents; each is read the same way.
            documents = [
                (root, yaml.constructor.construct_document(root))
                for root in yaml.compose_all(text)
                if root is not None
            ]
        except YAMLError as exc:
            self.issues.append(_yaml_error(exc, block, self.path))
            return
        ids: list[str] = []
        for root, data in documents:
            for node, value in _entries(root, data):
                project_id = self.read_entry(block, node, value)
                if project_id is not None:
                    ids.append(project_id)
        if not block.in_fence and ids:
            self.warn(
                block.opened_at,
                f"project entries written outside a ```yaml fence: {', '.join(ids)} "
                "(read anyway; codev's own tools may miss them)",
            )

    def read_entry(self, block: Block, node: MappingNode, value: dict[str, Any]) -> str | None:
        line = block.start + node.start_mark.line + 1
        keys = _first_keys(node)
        id_node = keys.get("id", (None, None))[1]
        if not isinstance(id_node, ScalarNode) or not id_node.value:
            self.warn(line, "entry without an id: skipped")
            return None
        project_id = id_node.value
        status = value.get("status")
        status = "" if status is None else str(status)
        tags = _strings(value.get("tags"))
        if (
            _PLACEHOLDER_ID.fullmatch(project_id)
            or "|" in status
            or "example" in {t.lower() for t in tags}
        ):
            self.templates += 1
            return None
        if not id_node.tag.endswith(":str"):
            self.warn(line, f'id {project_id} is not quoted; write it as "{project_id}"')
        if not project_id.isdigit():
            self.warn(line, f"id {project_id!r} is not a string of digits")
        if not status:
            self.warn(line, f"project {project_id} has no status")
        elif status == "on_hold":
            self.warn(line, f"project {project_id}: status 'on_hold' is read as on-hold")
        elif status not in STATUSES:
            self.warn(
                line,
                f"project {project_id}: unknown status {status!r} "
                f"(expected one of {', '.join(STATUSES)})",
            )
        seen: dict[str, int] = {}
        for key, _ in node.value:
            if isinstance(key, ScalarNode):
                key_line = block.start + key.start_mark.line + 1
                if key.value in seen:
                    self.warn(
                        key_line,
                        f"project {project_id}: key {key.value!r} is written twice (also at "
                        f"line {seen[key.value]}); the first one counts",
                    )
                seen.setdefault(key.value, key_line)
        project = self.project(project_id, status, tags, value, line, block.in_fence)
        if project_id in self.sources:
            first = self.sources[project_id].first + 1
            self.warn(line, f"duplicate id {project_id} (first at line {first})")
            self.duplicates.add(project_id)
        else:
            self.sources[project_id] = self.source(block, node, keys)
        self.projects.append(project)
        return project_id

    def project(
        self,
        project_id: str,
        status: str,
        tags: tuple[str, ...],
        value: dict[str, Any],
        line: int,
        in_fence: bool,
    ) -> Project:
        extra = {str(k): v for k, v in value.items() if k not in _KNOWN_KEYS}
        files = value.get("files")
        if files is not None and not isinstance(files, dict):
            extra["files"] = files
        binding = None
        raw_binding = value.get("chat_binding")
        if raw_binding is not None:
            binding = _chat_binding(raw_binding)
            if binding is None:
                extra["chat_binding"] = raw_binding
                self.warn(line, f"project {project_id}: chat_binding needs at least a platform")
        notes = value.get("notes")
        return Project(
            id=project_id,
            title=str(value.get("title") or ""),
            status=status,
            repos=_repos(value.get("repos")),
            files=files if isinstance(files, dict) else {},
            chat_binding=binding,
            tags=tags,
            notes=None if notes is None else str(notes),
            extra=extra,
            line=line,
            in_fence=in_fence,
        )

    def source(
        self, block: Block, node: MappingNode, keys: dict[str, tuple[Node, Node]]
    ) -> EntrySource:
        status = None
        if "status" in keys:
            status = self.spot(block, *keys["status"])
        stamps: dict[str, Spot] = {}
        pairs = list(keys.items())
        nested = keys.get("timestamps", (None, None))[1]
        if isinstance(nested, MappingNode):
            pairs += list(_first_keys(nested).items())
        for name, (key, value) in pairs:
            if _TIMESTAMP_KEY.fullmatch(str(name)) and isinstance(value, ScalarNode):
                stamps.setdefault(name, self.spot(block, key, value))
        return EntrySource(
            first=block.start + node.start_mark.line,
            last=block.start + _last_line(node),
            status=status,
            timestamps=stamps,
        )

    def spot(self, block: Block, key: Node, value: Node) -> Spot:
        if not isinstance(value, ScalarNode):
            line = block.start + value.start_mark.line
            return Spot(line, 0, 0, "", single_line=False)
        if value.value == "" and not value.style:
            # An empty value's marks point at the next token; the value belongs after the colon.
            line = block.start + key.end_mark.line
            text = content(self.doc.lines[line])
            colon = text.index(":", key.end_mark.column) + 1
            return Spot(line, colon, colon, "", empty=True)
        return Spot(
            line=block.start + value.start_mark.line,
            start=value.start_mark.column,
            end=value.end_mark.column,
            style=value.style or "",
            single_line=value.start_mark.line == value.end_mark.line,
        )


def _first_keys(node: MappingNode) -> dict[str, tuple[Node, Node]]:
    keys: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if isinstance(key, ScalarNode):
            keys.setdefault(key.value, (key, value))
    return keys


def _yaml_error(exc: YAMLError, block: Block, path: Path) -> Issue:
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    mark = problem_mark or context_mark
    line = block.start + mark.line + 1 if mark is not None else block.opened_at
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    message = f"invalid YAML: {problem}"
    context = getattr(exc, "context", None)
    if context:
        message += f" ({context}"
        if context_mark is not None and context_mark.line != getattr(problem_mark, "line", None):
            message += f" started at line {block.start + context_mark.line + 1}"
        message += ")"
    return Issue("error", path, line, message)


def _entries(root: Node, data: Any) -> Iterator[tuple[MappingNode, dict[str, Any]]]:
    """Project entries: items of a top-level `projects:` list, or of a bare top-level list.

    Items of a bare list without an `id` are not projects (release lists look like that).
    """
    items: list[tuple[Node, Any]] = []
    require_id = False
    if isinstance(root, MappingNode) and isinstance(data, dict):
        for key, value in root.value:
            listed = data.get("projects")
            is_projects = isinstance(key, ScalarNode) and key.value == "projects"
            if is_projects and isinstance(value, SequenceNode) and isinstance(listed, list):
                items = list(zip(value.value, listed, strict=True))
    elif isinstance(root, SequenceNode) and isinstance(data, list):
        items = list(zip(root.value, data, strict=True))
        require_id = True
    for node, value in items:
        if isinstance(node, MappingNode) and isinstance(value, dict):
            if require_id and not any(
                isinstance(k, ScalarNode) and k.value == "id" for k, _ in node.value
            ):
                continue
            yield node, value


def _last_line(node: Node) -> int:
    """The block-relative line of a node's last character (block collections end late)."""
    if isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _last_line(last[1] if isinstance(last, tuple) else last)
    end = node.end_mark
    return end.line - 1 if end.column == 0 and end.line > node.start_mark.line else end.line


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value if item is not None)
    return (str(value),)


def _repos(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        names = []
        for item in value:
            if isinstance(item, dict):
                item = item.get("name") or item.get("path") or item.get("url")
            if item is not None:
                names.append(str(item))
        return tuple(names)
    return _strings(value)


def _chat_binding(value: Any) -> ChatBinding | None:
    if not isinstance(value, dict) or not value.get("platform"):
        return None
    known = {"platform", "group_name", "channel_id", "thread_id", "trigger", *_PATTERN_KEYS}
    patterns: list[str] = []
    for key in _PATTERN_KEYS:
        patterns += _strings(value.get(key))

    def text(key: str) -> str | None:
        item = value.get(key)
        return None if item is None else str(item)

    return ChatBinding(
        platform=str(value["platform"]),
        group_name=text("group_name"),
        channel_id=text("channel_id"),
        thread_id=text("thread_id"),
        trigger=text("trigger") or "all_messages",
        patterns=tuple(patterns),
        extra={str(k): v for k, v in value.items() if k not in known},
    )

"""Read a project list (the design's `.ai/` format or codev's) into the typed model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tools.projectlist._source import EntrySource, Spot, Written
from tools.projectlist._text import Document, Locator, digest
from tools.projectlist._yaml import gc_paused, load_all

_KNOWN_KEYS = {"id", "title", "status", "repos", "files", "chat_binding", "tags", "notes"}
_PLACEHOLDER_ID = re.compile(r"[A-Z]+")  # "NNNN", "NNN", "XXXX" in template fences
_TIMESTAMP_KEY = re.compile(r"[A-Za-z][\w-]*_at")
_PATTERN_KEYS = ("patterns", "mention_patterns", "mentions", "prefixes", "prefix")


def parse(raw: bytes, path: Path, *, strict: bool = True) -> ProjectList:
    """Parse the bytes of a project list read from `path`."""
    with gc_paused():  # builds acyclic data only; see _yaml.GcPause
        return check_strict(_parse(raw, path), strict)


def _parse(raw: bytes, path: Path) -> ProjectList:
    doc = Document.decode(raw, path)
    blocks, issues = scan(doc, path)
    reader = _Reader(doc, path, issues)
    for block in blocks:
        reader.read_block(block)
    return ProjectList(
        path=path,
        format=_format(path, reader.projects),
        projects=tuple(reader.projects),
        issues=tuple(sorted(issues, key=lambda issue: issue.line)),
        digest=digest(raw),
        templates=reader.templates,
        _document=doc,
        _sources=reader.sources,
        _duplicates=frozenset(reader.duplicates),
        _data=tuple(reader.data),
    )


def check_strict(plist: ProjectList, strict: bool) -> ProjectList:
    """`plist`, or with `strict` its first error raised as ProjectListError."""
    if strict and plist.errors:
        first = plist.errors[0]
        more = len(plist.errors) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise ProjectListError(plist.path, first.line, first.message + suffix)
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
        self.data: list[tuple[Any, ...]] = []  # each block's documents, as constructed

    def warn(self, line: int, message: str) -> None:
        self.issues.append(Issue("warning", self.path, line, message))

    def read_block(self, block: Block) -> None:
        at = Locator(self.doc, block.start, block.end)
        try:
            # `---` may split a fence into several documents; each is read the same way.
            documents = load_all(at.text)
        except YAMLError as exc:
            self.issues.append(_yaml_error(exc, at, block, self.path))
            self.data.append(())
            return
        number = len(self.data)
        self.data.append(tuple(document.data for document in documents))
        ids: list[str] = []
        for index, document in enumerate(documents):
            for node, value, where in _entries(document.root, document.data):
                project_id = self.read_entry(at, block, node, value, (number, index, *where))
                if project_id is not None:
                    ids.append(project_id)
        if not block.in_fence and ids:
            self.warn(
                block.opened_at,
                f"project entries written outside a ```yaml fence: {', '.join(ids)} "
                "(read anyway; codev's own tools may miss them)",
            )

    def read_entry(
        self,
        at: Locator,
        block: Block,
        node: MappingNode,
        value: dict[str, Any],
        where: tuple[Any, ...],
    ) -> str | None:
        line = at.line(node.start_mark.index) + 1
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
        seen: dict[str, Node] = {}
        for key, _ in _own_pairs(node):
            if isinstance(key, ScalarNode):
                if key.value in seen:
                    self.warn(
                        at.line(key.start_mark.index) + 1,
                        f"project {project_id}: key {key.value!r} is written twice (also at "
                        f"line {at.line(seen[key.value].start_mark.index) + 1}); the first "
                        "one counts",
                    )
                seen.setdefault(key.value, key)
        project = self.project(project_id, status, tags, value, line, block.in_fence)
        if project_id in self.sources:
            first = self.sources[project_id].first + 1
            self.warn(line, f"duplicate id {project_id} (first at line {first})")
            self.duplicates.add(project_id)
        else:
            self.sources[project_id] = self.source(at, node, keys, value, where)
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
        self,
        at: Locator,
        node: MappingNode,
        keys: dict[str, tuple[Node, Node]],
        value: dict[str, Any],
        where: tuple[Any, ...],
    ) -> EntrySource:
        first, last = at.line(node.start_mark.index), _last_line(at, node)
        status: Written | Spot | None = None
        if "status" in keys:
            status = _written(*keys["status"])
        elif "status" in value:  # a `<<:` merge brought it in from another mapping
            status = Spot(first, 0, 0, "", problem="comes from a YAML merge (<<:)")
        stamps: dict[str, Written] = {}
        nested_names: set[str] = set()
        for name, (key, node_value) in keys.items():
            if node_value.__class__ is ScalarNode and _TIMESTAMP_KEY.fullmatch(name):
                stamps[name] = _written(key, node_value)
        nested = keys.get("timestamps", (None, None))[1]
        if isinstance(nested, MappingNode):
            for name, (key, node_value) in _first_keys(nested).items():
                stampish = node_value.__class__ is ScalarNode and _TIMESTAMP_KEY.fullmatch(name)
                if stampish and name not in stamps:
                    stamps[name] = _written(key, node_value)
                    nested_names.add(name)
        entry = "".join(self.doc.lines[first : last + 1])
        return EntrySource(
            first=first,
            last=last,
            written_status=status,
            written_stamps=stamps,
            nested=frozenset(nested_names),
            where=where,
            fingerprint=digest(entry.encode("utf-8")),
            locator=at,
        )


def _written(key: Node, value: Node) -> Written:
    if value.__class__ is not ScalarNode:
        kind = "other"
    elif value.value == "" and not value.style:
        kind = "empty"
    else:
        kind = "scalar"
    style = getattr(value, "style", None) or ""
    return (key.end_mark.index, value.start_mark.index, value.end_mark.index, style, kind)


def _first_keys(node: MappingNode) -> dict[str, tuple[Node, Node]]:
    keys: dict[str, tuple[Node, Node]] = {}
    for key, value in _own_pairs(node):
        if isinstance(key, ScalarNode):
            keys.setdefault(key.value, (key, value))
    return keys


def _own_pairs(node: MappingNode) -> list[tuple[Node, Node]]:
    """The key/value pairs written in this mapping (not those a `<<:` merge put in front)."""
    merged = getattr(node, "merge", None)
    return node.value[len(merged) :] if merged else node.value


def _yaml_error(exc: YAMLError, at: Locator, block: Block, path: Path) -> Issue:
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    mark = problem_mark or context_mark
    line = at.line(mark.index) + 1 if mark is not None else block.opened_at
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    message = f"invalid YAML: {problem}"
    context = getattr(exc, "context", None)
    if context:
        message += f" ({context}"
        if context_mark is not None:
            context_line = at.line(context_mark.index) + 1
            if context_line != line:
                message += f" started at line {context_line}"
        message += ")"
    return Issue("error", path, line, message)


def _entries(
    root: Node, data: Any
) -> Iterator[tuple[MappingNode, dict[str, Any], tuple[Any, ...]]]:
    """Project entries: items of a top-level `projects:` list, or of a bare top-level list.

    Each comes with where its data sits in the document (for comparing versions). Items of a
    bare list without an `id` are not projects (release lists look like that).
    """
    items: list[tuple[Node, Any]] = []
    prefix: tuple[Any, ...] = ()
    require_id = False
    if isinstance(root, MappingNode) and isinstance(data, dict):
        for key, value in root.value:
            listed = data.get("projects")
            is_projects = isinstance(key, ScalarNode) and key.value == "projects"
            if is_projects and isinstance(value, SequenceNode) and isinstance(listed, list):
                items = list(zip(value.value, listed, strict=True))
                prefix = ("projects",)
    elif isinstance(root, SequenceNode) and isinstance(data, list):
        items = list(zip(root.value, data, strict=True))
        require_id = True
    for index, (node, value) in enumerate(items):
        if isinstance(node, MappingNode) and isinstance(value, dict):
            if require_id and not any(
                isinstance(k, ScalarNode) and k.value == "id" for k, _ in node.value
            ):
                continue
            yield node, value, (*prefix, index)


def _last_line(at: Locator, node: Node) -> int:
    """The Document line of a node's last character (block collections end late)."""
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    start, end = node.start_mark.index, node.end_mark.index
    return at.line(max(start, end - 1))


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

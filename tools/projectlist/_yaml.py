"""The YAML reader under the project list: libyaml's parser, bounded against hostile input.

Three things a plain `YAML(typ="safe").load` does not do:
- Alias expansion is bounded. Composing and constructing share aliased nodes, so a "billion
  laughs" file loads quickly, but anything that walks the data afterwards (str(), ==, JSON)
  expands it. A document whose aliases expand to far more nodes than it holds is refused.
- Deep nesting cannot crash the process. libyaml's composer recurses on the C stack
  (100,000 nested brackets is a segfault on an 8 MiB stack); deep documents are composed on
  a thread whose stack is sized to a bound on their depth.
- It is faster (about 3x on a 10,000-project list): ruamel's resolver recomputes its table and
  builds a new Tag for every scalar, its constructor dispatches every string through several
  layers, and the cyclic GC rescans the growing heap while tens of thousands of acyclic nodes
  are created. The output is the same data (tests compare it with SafeConstructor's).
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

# A document may expand to this many nodes beyond what it holds (anchors used for sharing a
# list or two are far below it; a billion-laughs document is far above it within a few levels).
ALIAS_EXPANSION_LIMIT = 10_000
# Deeper data breaks Python's own recursion (str, ==, json); no project list comes close.
MAX_DEPTH = 256
# Up to this bound on nesting the composer runs on the caller's stack (any thread has room);
# beyond it, on a thread with STACK_PER_LEVEL bytes per level, up to BOUND_LIMIT, beyond
# which the depth is measured exactly first (slower, but only for pathological text).
INLINE_DEPTH = 2_000
STACK_PER_LEVEL = 1024
BOUND_LIMIT = 100_000
# The leading part of a line where block collections can start: indentation, then compact
# indicators (`- `, `? `, `: `) and node properties (`&anchor `, `!tag `).
_PREFIX = re.compile(r"^[ \t]*(?:(?:[-?:]|[&!][^ \t\n]*)(?:[ \t]+|(?=\n)|\Z))*", re.M)

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


class AliasBomb(YAMLError):
    """A document whose aliases expand far beyond its own size."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.problem = message
        self.problem_mark = mark


class TooDeep(YAMLError):
    """A document nested deeper than anything a project list needs."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.problem = message
        self.problem_mark = mark


class _Resolver(VersionedResolver):
    """ruamel's YAML 1.2 resolver with its table built once and its Tags shared.

    With the C parser `processing_version` always falls back to the default version (the C
    parser has no `_scanner` to ask), so fixing it changes nothing but the cost.
    """

    processing_version = (1, 2)  # type: ignore[assignment]
    _table: dict[str | None, list[tuple[Tag, Any]]] | None = None

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not ScalarNode:
            return super().resolve(kind, value, implicit)
        if implicit[0]:
            table = self._table if self._table is not None else self._build()
            for tag, regexp in table.get(value[:1], table[None]):
                if regexp.match(value):
                    return tag
        return self.DEFAULT_SCALAR_TAG

    def _build(self) -> dict[str | None, list[tuple[Tag, Any]]]:
        tags: dict[str, Tag] = {}

        def shared(name: str) -> Tag:
            return tags.setdefault(name, Tag(suffix=name))

        by_first = self.versioned_resolver
        anywhere = [(shared(tag), regexp) for tag, regexp in by_first.get(None, [])]
        table: dict[str | None, list[tuple[Tag, Any]]] = {
            first: [(shared(tag), regexp) for tag, regexp in resolvers] + anywhere
            for first, resolvers in by_first.items()
            if first is not None
        }
        table[None] = anywhere
        self._table = table
        return table


class Constructor(SafeConstructor):
    """Safe YAML, except timestamps and zero-padded numbers stay the text the human wrote."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # Strings and nulls are nearly every scalar in a project list: answer them directly.
        if node.__class__ is ScalarNode:
            tag = node.ctag.trval
            if tag == _STR:
                return node.value
            if tag == _NULL:
                return None
        return super().construct_object(node, deep)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # A mapping whose keys are all plain strings (no `<<` merge, no `=` value key, no
        # complex keys) needs none of SafeConstructor's checks; duplicates keep the first.
        if node.__class__ is MappingNode and getattr(node, "merge", None) is None:
            mapping: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.__class__ is not ScalarNode or key_node.ctag.trval != _STR:
                    break
                if key_node.value not in mapping:
                    mapping[key_node.value] = self.construct_object(value_node, deep=deep)
            else:
                return mapping
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> Any:
        # `dependencies: [0035]` names project "0035", not the number 35.
        text = node.value
        if len(text) > 1 and text.startswith("0") and text.isdigit():
            return text
        return super().construct_yaml_int(node)


Constructor.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
Constructor.add_constructor("tag:yaml.org,2002:int", Constructor.construct_yaml_int)


@dataclass(frozen=True)
class Loaded:
    """One YAML document: its node tree (for positions) and its data (for values)."""

    root: Node
    data: Any


def load_all(text: str) -> list[Loaded]:
    """Every document in `text`, composed and constructed; raises YAMLError when it cannot.

    Raises AliasBomb / TooDeep (both YAMLErrors) for hostile input before anything expands.
    """
    with gc_paused():
        roots, bound = _compose_all(text)
        documents = []
        for root in roots:
            if "*" in text:  # aliases: the graph may expand, and reach deeper than it looks
                _check_shape(root)
            elif bound > MAX_DEPTH:
                _check_depth(root)
            yaml = _yaml()
            try:
                data = yaml.constructor.construct_document(root)
            except RecursionError:
                raise TooDeep("nested too deeply to read") from None
            documents.append(Loaded(root, data))
        return documents


def _yaml() -> YAML:
    # pure=False: libyaml's parser (ruamel.yaml.clib) when installed, else pure Python
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _Resolver
    yaml.Constructor = Constructor
    # Real codev files repeat keys (a second `timestamps:` in one entry); ruamel keeps the
    # first, and the reader warns about it.
    yaml.allow_duplicate_keys = True
    return yaml


def _compose_all(text: str) -> tuple[list[Node], int]:
    """The documents' node trees, and the bound on their depth that was used."""
    bound = _depth_bound(text)
    if bound > BOUND_LIMIT:
        bound = _exact_depth(text)
    if bound <= INLINE_DEPTH:
        return [root for root in _yaml().compose_all(text) if root is not None], bound
    roots = _on_big_stack(lambda: [r for r in _yaml().compose_all(text) if r is not None], bound)
    return roots, bound


def _depth_bound(text: str) -> int:
    """An upper bound on how deeply `text` can nest.

    Flow nesting needs one `[` or `{` per level. A block collection starts at the beginning
    of a line or after compact indicators (see _PREFIX), right of its parent, except a
    sequence written under its mapping key: two levels take at least one column.
    """
    prefix = max(map(len, _PREFIX.findall(text)), default=0)
    return text.count("[") + text.count("{") + 2 * prefix + 2


def _exact_depth(text: str) -> int:
    """The nesting depth, from libyaml's event stream (its parser keeps its own stack);
    raises TooDeep at the first collection deeper than MAX_DEPTH."""
    depth = deepest = 0
    for event in _yaml().parse(text):
        kind = type(event).__name__
        if kind in ("SequenceStartEvent", "MappingStartEvent"):
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                raise TooDeep(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        elif kind in ("SequenceEndEvent", "MappingEndEvent"):
            depth -= 1
    return deepest


_stack_lock = threading.Lock()


def _on_big_stack(compose: Any, depth: int) -> Any:
    """Run `compose` on a thread with enough C stack for `depth` levels of recursion."""
    result: list[Any] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(compose())
        except BaseException as exc:  # re-raised in the calling thread
            error.append(exc)

    with _stack_lock:  # stack_size is process-wide: set it only for this one thread
        previous = threading.stack_size(max(depth * STACK_PER_LEVEL + (8 << 20), 32 << 10))
        try:
            worker = threading.Thread(target=run, name="projectlist-compose")
            worker.start()
        finally:
            threading.stack_size(previous)
    worker.join()
    if error:
        raise error[0]
    return result[0]


def _check_shape(root: Node) -> None:
    """Refuse a document nested too deeply, or whose aliases expand far beyond its size.

    Walks each distinct node once, iteratively, computing per node the nodes a full
    expansion would visit and the depth it reaches, without expanding anything; a cycle (an
    alias to its own ancestor) expands without end.
    """
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = [id(child) for child in _children(node)]
            sizes[key] = 1 + sum(sizes[child] for child in children)
            depths[key] = 1 + max((depths[child] for child in children), default=0)
            if depths[key] > MAX_DEPTH:
                raise TooDeep(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise AliasBomb("an alias refers to its own ancestor (a cycle)", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    expanded = sizes[id(root)]
    if expanded > len(sizes) + ALIAS_EXPANSION_LIMIT:
        raise AliasBomb(
            f"aliases expand {len(sizes):,} nodes to {expanded:,} (a 'billion laughs' "
            "document?); write the values out instead of aliasing them",
            root.start_mark,
        )


def _check_depth(root: Node) -> None:
    """Refuse a tree (no aliases) nested deeper than MAX_DEPTH; visits collections only."""
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TooDeep(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
        deeper = depth + 1
        if node.__class__ is MappingNode:
            for key, value in node.value:
                if value.__class__ is not ScalarNode:
                    stack.append((value, deeper))
                if key.__class__ is not ScalarNode:
                    stack.append((key, deeper))
        elif node.__class__ is SequenceNode:
            for item in node.value:
                if item.__class__ is not ScalarNode:
                    stack.append((item, deeper))


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, SequenceNode):
        yield from node.value
    elif isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value


class GcPause:
    """Pauses the cyclic GC while any thread is building acyclic data; restores it after.

    Building tens of thousands of nodes otherwise triggers collections that rescan the whole
    growing heap (the reason a 10,000-project list took more than ten times a 1,000 one).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = True

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._was_enabled:
                    gc.enable()


gc_paused = GcPause()

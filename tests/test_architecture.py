"""The house rules, read from the source with `ast`: no import cycle, no reaching into another
package's private module, and the tiers of shared/ARCHITECTURE.md.

Every import counts, wherever it is written (module level, inside a function, under
TYPE_CHECKING): a lazy import is still a dependency, only a hidden one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The packages whose modules must form no cycle.
PRODUCT = ("assistant", "tools")
# Everything whose imports are checked for private modules; tests and benchmarks included.
CHECKED = (*PRODUCT, "prompts", "tests", "bench")

# Known violations that work in progress on issue 10 removes; each names the importing module
# and the imported one. Delete an entry when its import goes: the test then keeps it gone.
PRIVATE_IMPORTS_BEING_REMOVED: frozenset[tuple[str, str]] = frozenset(
    {
        # The corpus test counts the ```yaml fences the scanner finds in real files: it tests
        # the scanner itself, which has no public name (the project list is its only output).
        ("tests.projectlist.test_projectlist_corpus", "tools.projectlist._scan"),
        ("tests.projectlist.test_projectlist_corpus", "tools.projectlist._text"),
    }
)
CYCLES_BEING_REMOVED: frozenset[frozenset[str]] = frozenset({})

# The one private module of a library Foreman depends on, behind a single function that
# tests/assistant/test_pydantic_internals.py checks against the installed pydantic-ai.
LIBRARY_PRIVATE_ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {("assistant.agent.pydantic_internals", "pydantic_ai._agent_graph")}
)

# What a channel may import from the assistant: its own package and the message types.
CHANNEL_MAY_IMPORT = ("assistant.channels", "assistant.messages")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the file holding the import
    target: str  # the dotted module imported (the deepest that is a module of ours, if ours)
    line: int

    def __str__(self) -> str:
        return f"{self.importer} (line {self.line}) imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(roots: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted((REPO / root).rglob("*.py")):
            if ".venv" not in path.parts and "node_modules" not in path.parts:
                found[_module_name(path)] = path
    return found


MODULES = _sources(CHECKED)


def _resolve(name: str) -> str:
    """`name` as the deepest module of ours it names (`a.b.C` -> `a.b`), else unchanged."""
    candidate = name
    while candidate:
        if candidate in MODULES:
            return candidate
        candidate = candidate.rpartition(".")[0]
    return name


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, _resolve(alias.name), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from a.b import c` imports module a.b.c when there is one, else a name of a.b
                target = _resolve(f"{base}.{alias.name}")
                yield Import(module, target if target in MODULES else base, node.lineno)


IMPORTS = list(dict.fromkeys(i for module, path in MODULES.items() for i in _imports(module, path)))


def _is_private(module: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in module.split("."))


def _owner(private_module: str) -> str:
    """The package a private module belongs to: everything before its first private part."""
    parts = private_module.split(".")
    first = next(i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__"))
    return ".".join(parts[:first])


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_module_imports_another_packages_private_module() -> None:
    offending = []
    for imp in IMPORTS:
        if not _is_private(imp.target) or _inside(imp.importer, _owner(imp.target)):
            continue
        pair = (imp.importer, imp.target)
        if pair in LIBRARY_PRIVATE_ALLOWED or pair in PRIVATE_IMPORTS_BEING_REMOVED:
            continue
        offending.append(str(imp))
    assert not offending, (
        "these import another package's private (_name) module; import the public name the "
        "package re-exports instead (add it to its __init__ if it is missing):\n  "
        + "\n  ".join(offending)
    )


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules() -> None:
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        ours = imp.importer.split(".")[0] in PRODUCT and imp.target.split(".")[0] in PRODUCT
        if ours and imp.target != imp.importer:
            edges.setdefault(imp.importer, set()).add(imp.target)
    cycles = [c for c in _cycles(edges) if frozenset(c) not in CYCLES_BEING_REMOVED]
    lines = []
    for cycle in cycles:
        members = set(cycle)
        inside = sorted(str(i) for i in IMPORTS if i.importer in members and i.target in members)
        lines.append(" <-> ".join(cycle) + ":\n    " + "\n    ".join(inside))
    assert not cycles, (
        "these modules import each other (directly or round a loop); move what both need "
        "into one of them or below both:\n  " + "\n  ".join(lines)
    )


@dataclass(frozen=True)
class Tier:
    rule: str
    importers: str  # the package the rule is about
    forbidden: tuple[str, ...]  # what it may not import...
    allowed: tuple[str, ...] = ()  # ...except these
    exempt: tuple[str, ...] = ()  # importers inside `importers` the rule does not cover

    def violations(self) -> list[str]:
        return [
            str(i)
            for i in IMPORTS
            if _inside(i.importer, self.importers)
            and not any(_inside(i.importer, e) for e in self.exempt)
            and any(_inside(i.target, f) for f in self.forbidden)
            and not any(_inside(i.target, a) for a in self.allowed)
        ]


TIERS = {
    "tools": Tier("tools/ imports nothing from assistant/", "tools", ("assistant",)),
    "channels": Tier(
        "channels import nothing above them (only assistant.channels and assistant.messages)",
        "assistant.channels",
        ("assistant",),
        allowed=CHANNEL_MAY_IMPORT,
    ),
    "relay": Tier(
        "the relay imports nothing from the agent",
        "assistant.relay",
        ("assistant.agent", "assistant.dm", "pydantic_ai"),
    ),
    "cli": Tier(
        "only the CLI imports the CLI: it is the top tier",
        "assistant",
        ("assistant.cli",),
        exempt=("assistant.cli", "assistant.__main__"),
    ),
}


@pytest.mark.parametrize("tier", TIERS.values(), ids=TIERS.keys())
def test_tiers_import_only_downwards(tier: Tier) -> None:
    offending = tier.violations()
    assert not offending, f"{tier.rule}; but:\n  " + "\n  ".join(offending)


def test_every_known_violation_still_exists() -> None:
    # An allowance outliving its import would let the import come back unnoticed.
    pairs = {(i.importer, i.target) for i in IMPORTS}
    gone = sorted(f"{a} -> {b}" for a, b in PRIVATE_IMPORTS_BEING_REMOVED - pairs)
    edges: dict[str, set[str]] = {}
    for a, b in pairs:
        edges.setdefault(a, set()).add(b)
    cycles = {frozenset(c) for c in _cycles(edges)}
    gone += sorted(" <-> ".join(sorted(c)) for c in CYCLES_BEING_REMOVED - cycles)
    assert not gone, (
        "fixed, well done: delete these from the allowances in tests/test_architecture.py:\n  "
        + "\n  ".join(gone)
    )


def test_the_import_walk_sees_the_imports_that_matter() -> None:
    # The rules above pass vacuously if the walk finds nothing; pin imports that exist.
    seen = {(i.importer, i.target) for i in IMPORTS}
    assert ("assistant.channels.telegram", "assistant.messages") in seen
    assert ("tools.opencode", "tools.opencode._client") in seen
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

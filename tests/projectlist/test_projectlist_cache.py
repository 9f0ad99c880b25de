"""Each version of a project list is parsed once, fast, and the same as ruamel reads it."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.nodes import ScalarNode

from tools.projectlist import clear_cache, load, load_async, set_status


def projects(count: int, status: str = "planned") -> str:
    entries = "".join(
        f'  - id: "{n:04d}"\n    title: "Project {n}"\n    status: {status}\n    tags: [a, b]\n'
        for n in range(1, count + 1)
    )
    return f"```yaml\nprojects:\n{entries}```\n"


def test_an_unchanged_file_is_parsed_once(tmp_path: Path) -> None:
    path = tmp_path / "projectlist.md"
    path.write_text(projects(3))
    clear_cache()
    first = load(path)
    assert load(path) is first
    assert load(path, strict=False) is first


def test_a_rewrite_of_the_same_size_within_the_same_mtime_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "projectlist.md"
    path.write_text(projects(3, "planned"))
    stamp = path.stat().st_mtime_ns
    assert load(path).get("0002").status == "planned"
    # Same inode, same size, same mtime: only the content tells the versions apart.
    path.write_text(projects(3, "abandon"))
    os.utime(path, ns=(stamp, stamp))
    assert load(path).get("0002").status == "abandon"


def test_a_write_by_the_editor_is_the_next_read_without_a_parse(tmp_path: Path) -> None:
    path = tmp_path / "projectlist.md"
    path.write_text(projects(3))
    load(path)
    written = set_status(path, "0002", "implementing")
    after = load(path)
    assert after.get("0002").status == "implementing"
    assert after.digest == written.digest_after
    assert load(path) is after


def test_load_async_parses_a_changed_file_off_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "projectlist.md"
    path.write_text(projects(2000))
    clear_cache()

    async def read_while_ticking() -> tuple[int, int]:
        ticks = 0
        done = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        start = ticks
        plist = await load_async(path)
        done.set()
        await ticker
        return ticks - start, len(plist.projects)

    ticked, count = asyncio.run(read_while_ticking())
    assert count == 2000
    assert ticked > 1  # the loop kept running while the file was parsed
    assert asyncio.run(load_async(path)) is load(path)


class _Reference(SafeConstructor):
    """ruamel's own SafeConstructor with the reader's two documented rules, nothing faster."""

    def construct_yaml_int(self, node: ScalarNode) -> Any:
        text = node.value
        if len(text) > 1 and text.startswith("0") and text.isdigit():
            return text
        return super().construct_yaml_int(node)


_Reference.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
_Reference.add_constructor("tag:yaml.org,2002:int", _Reference.construct_yaml_int)
_FENCE = re.compile(r"^```ya?ml[^\n]*\n(.*?)^```", re.M | re.S)
_KNOWN = {"id", "title", "status", "repos", "files", "chat_binding", "tags", "notes"}


def _reference_entries(text: str) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for fence in _FENCE.finditer(text):
        yaml = YAML(typ="safe", pure=False)
        yaml.Constructor = _Reference
        yaml.allow_duplicate_keys = True
        for data in yaml.load_all(fence[1]):
            items = data.get("projects") if isinstance(data, dict) else data
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and "id" in item:
                    entries.setdefault(str(item["id"]), item)
    return entries


def test_the_fast_reader_reads_what_ruamels_safe_constructor_reads(corpus: Path) -> None:
    files = sorted((corpus / "projectlist").glob("*.md"))
    files += sorted((corpus / "projectlist-edits").glob("*.md"))
    compared = 0
    for path in files:
        reference = _reference_entries(path.read_text(encoding="utf-8-sig"))
        for project in load(path, strict=False).projects:
            if project.id not in reference:  # written outside a fence
                continue
            entry = reference[project.id]
            assert project.status == str(entry.get("status") or ""), path
            assert project.title == str(entry.get("title") or ""), path
            expected = {k: v for k, v in entry.items() if k not in _KNOWN}
            if "files" in entry and not isinstance(entry["files"], dict):
                expected["files"] = entry["files"]
            assert project.extra == expected, (path, project.id)
            assert project.files == (entry["files"] if isinstance(entry.get("files"), dict) else {})
            compared += 1
    assert compared > 1000

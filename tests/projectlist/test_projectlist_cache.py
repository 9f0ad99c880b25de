"""Each version of a project list is parsed once; async readers parse off the event loop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

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

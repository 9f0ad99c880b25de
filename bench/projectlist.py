"""Benchmark: a project-list status edit and reads, against the same C loader on the same file.

    python bench/projectlist.py [--sizes 100,1000,10000] [--runs 5]

Baseline (B): read the file and `YAML(typ="safe", pure=False).load()` its projects fence, the
libyaml-backed loader Foreman's own reader is built on, so the ratio shows what Foreman adds
(finding the fences, locating every value, checking the file, proving and writing the edit),
not the difference between two parsers. Measured in the same process, A and B alternating
(ABAB..., then BABA...), each figure the median of the per-run ratios, spread min-max.

- edit: `set_status()` on a codev-style file (read, digest, lock, plan, re-read and prove the
  new text, atomic write with fsync). "warm" is a long-running process (`foreman serve`) where
  this version of the file was already read: its parse is reused after the digest matches.
  "cold" is a fresh process (`foreman status set`): it parses the old and the new text.
- reads: `load()` of an unchanged 1,000-project list, the second time against the first.
- loop lag: the longest stall of a 1 ms asyncio ticker while `await load_async()` reads a
  1,000-project list that just changed (what a `/projects` DM costs `foreman serve`).

Foreman's reader pauses the cyclic GC while it builds its (acyclic) data; the baseline runs as
a plain `load()` does, with the GC on. Its figure with the GC paused too is printed as well.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ruamel.yaml import YAML  # noqa: E402

from tools.projectlist import clear_cache, load, load_async, set_status  # noqa: E402

STATUSES = ("conceived", "specified", "planned", "implementing", "implemented", "committed")
HEADER = """\
# Project List

Centralized tracking of all projects with status, priority, and dependencies.

## Project Format

```yaml
projects:
  - id: "NNNN"              # Four-digit project number
    title: "Brief title"
    status: conceived|specified|planned|implementing|implemented|committed|integrated
```

## Active Projects

```yaml
projects:
"""
FENCE = "## Active Projects\n\n```yaml\n"


def entry(n: int) -> str:
    first = '"2025-12-25T00:00:00-08:00"'
    stamps = "".join(
        f"      {s}_at: {first if s == 'conceived' else 'null'}\n"
        for s in (*STATUSES, "integrated")
    )
    return (
        f'  - id: "{n:04d}"\n'
        f'    title: "Project {n}: a realistic title of some length"\n'
        f'    summary: "What project {n} does, in one sentence that runs on for a while"\n'
        f"    status: {STATUSES[n % len(STATUSES)]}\n"
        "    priority: medium\n"
        "    release: null\n"
        "    files:\n"
        f"      spec: codev/specs/{n:04d}-project.md\n"
        f"      plan: codev/plans/{n:04d}-project.md\n"
        "      review: null\n"
        f'    dependencies: ["{max(n - 1, 1):04d}"]\n'
        "    tags: [api, ui]\n"
        "    timestamps:\n"
        f"{stamps}"
        f'    notes: "Notes for {n}: decisions, links, PR #{n}."\n'
    )


def make_workspace(root: Path, projects: int) -> Path:
    path = root / "codev" / "projectlist.md"
    path.parent.mkdir(parents=True)
    body = "\n".join(entry(n) for n in range(1, projects + 1))
    path.write_text(HEADER + body + "```\n\n## Next Available Number\n")
    return path


def baseline_load(path: Path) -> object:
    """Read the file and load its projects fence with the C loader: the fair baseline."""
    text = path.read_text()
    start = text.index(FENCE) + len(FENCE)
    return YAML(typ="safe", pure=False).load(text[start : text.index("```", start)])


def paired(
    a: Callable[[], object], b: Callable[[], object], runs: int
) -> list[tuple[float, float]]:
    """(A seconds, B seconds) per run, the order alternating so drift hits both alike."""
    pairs = []
    for run in range(runs):
        first, second = (a, b) if run % 2 == 0 else (b, a)
        times = []
        for function in (first, second):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        pairs.append((times[0], times[1]) if run % 2 == 0 else (times[1], times[0]))
    return pairs


def summary(pairs: list[tuple[float, float]]) -> tuple[float, float, float, str]:
    """Median A, median B, median ratio, and the ratio's spread as text."""
    ratios = [a / b for a, b in pairs]
    a = statistics.median(x for x, _ in pairs)
    b = statistics.median(y for _, y in pairs)
    return a, b, statistics.median(ratios), f"{min(ratios):.2f}-{max(ratios):.2f}"


def without_gc(function: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        gc.disable()
        try:
            return function()
        finally:
            gc.enable()

    return run


def loop_lag(path: Path) -> float:
    """Seconds of the longest event-loop stall while `load_async` reads a changed file."""

    async def main() -> float:
        worst = 0.0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal worst
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                worst = max(worst, now - last - 0.001)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        await load_async(path)
        done.set()
        await task
        return worst

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    figures: list[str] = []
    per_project: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = make_workspace(Path(tmp) / str(size), size)
            target = f"{size // 2:04d}"
            flip = iter(["implementing", "planned"] * (3 * args.runs + 2))

            def warm(path: Path = path, target: str = target, flip=flip) -> object:
                return set_status(path, target, next(flip))

            def cold(path: Path = path, target: str = target, flip=flip) -> object:
                clear_cache()
                return set_status(path, target, next(flip))

            def base(path: Path = path) -> object:
                return baseline_load(path)

            warm()  # this version of the file is now parsed, as in a running `foreman serve`
            size_kib = path.stat().st_size / 1024
            print(f"{size:,} projects ({size_kib:,.0f} KiB), {args.runs} runs, A/B alternating")
            for name, function, baseline in (
                ("edit, warm", warm, base),
                ("edit, cold", cold, base),
                ("edit, warm, vs GC-paused load", warm, without_gc(base)),
            ):
                a, b, ratio, spread = summary(paired(function, baseline, args.runs))
                print(
                    f"  {name:32} {a * 1000:9.1f} ms  load {b * 1000:9.1f} ms"
                    f"  ratio {ratio:.2f} (spread {spread})"
                )
                key = name.split(",")[1].strip().split()[0]
                if "GC" not in name:
                    figures.append(f"figure projectlist_edit_{key}_{size}_vs_safe_load {ratio:.2f}")
                if name == "edit, warm":
                    per_project[size] = a / size
            if size == 1000:
                clear_cache()

                def first(path: Path = path) -> object:
                    clear_cache()
                    return load(path)

                def again(path: Path = path) -> object:
                    return load(path)

                again()
                a, b, ratio, spread = summary(paired(again, first, args.runs))
                print(
                    f"  {'second read vs first':32} {a * 1000:9.2f} ms  first {b * 1000:9.1f} ms"
                    f"  ratio {ratio:.3f} (spread {spread})"
                )
                figures.append(f"figure projectlist_second_read_1000_vs_first {ratio:.3f}")
                lags = []
                for _ in range(args.runs):
                    path.write_text(path.read_text() + "\n")  # a new version to read
                    lags.append(loop_lag(path))
                lag = statistics.median(lags)
                print(
                    f"  {'event loop stall, load_async':32} {lag * 1000:9.1f} ms"
                    f"  (spread {min(lags) * 1000:.1f}-{max(lags) * 1000:.1f})"
                )
                figures.append(f"figure projectlist_loop_stall_ms_1000 {lag * 1000:.1f}")
            if size == max(sizes):
                clear_cache()
                tracemalloc.start()
                cold()
                edit_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()
                base()
                load_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                print(
                    f"  {'peak memory, cold edit':32} {edit_peak / 2**20:9.1f} MiB"
                    f"  load {load_peak / 2**20:.1f} MiB  ratio {edit_peak / load_peak:.2f}"
                )
                figures.append(
                    f"figure projectlist_edit_memory_{size}_vs_safe_load "
                    f"{edit_peak / load_peak:.2f}"
                )
    if len(per_project) > 1:
        smallest, largest = min(per_project), max(per_project)
        growth = per_project[largest] / per_project[smallest]
        print(
            "warm edit per project: "
            + ", ".join(f"{size:,}: {per_project[size] * 1e6:.0f} µs" for size in per_project)
        )
        figures.append(f"figure projectlist_edit_growth_{smallest}_to_{largest} {growth:.2f}")
    goals = {
        "edit_warm": "<= 1.3",
        "edit_cold": "<= 1.3",
        "second_read": "<= 0.05",
        "loop_stall": "<= 50",
        "memory": "<= 2.0",
        "growth": "<= 1.3",
    }
    for line in figures:
        goal = next(goal for key, goal in goals.items() if key in line)
        print(f"{line} goal {goal}")


if __name__ == "__main__":
    main()

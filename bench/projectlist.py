"""Benchmark: one project-list status edit against a plain ruamel.yaml load of the same list.

    python bench/projectlist.py [--projects 1000] [--runs 7]

Prints medians measured in this run on this machine, and their ratios:
  - edit: set_status() on a 1,000-project codev-style file: read, parse and check the whole
    file, rewrite the status and timestamp lines, atomic write (temp file, fsync, rename)
  - baseline: `YAML().load()` (ruamel's default, round-trip) of that file's YAML; the
    `YAML(typ="safe")` load is shown too
  - `foreman projects --json` wall time against `python -c "import ruamel.yaml"`
Goal: edit <= 1.5x the plain load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ruamel.yaml import YAML  # noqa: E402

from tools.projectlist import set_status  # noqa: E402

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


def yaml_of(path: Path) -> str:
    """The text a YAML parser sees: the projects fence's contents."""
    text = path.read_text()
    start = text.index("## Active Projects\n\n```yaml\n") + len("## Active Projects\n\n```yaml\n")
    return text[start : text.index("```", start)]


def medians(functions: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median seconds of each function; runs are interleaved so machine load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def command(args: list[str], cwd: Path) -> Callable[[], object]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return lambda: subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "big"
        path = make_workspace(root, args.projects)
        small = make_workspace(Path(tmp) / "small", 20).parent.parent
        text = yaml_of(path)
        size = path.stat().st_size
        target = f"{args.projects // 2:04d}"
        flip = iter(["implementing", "planned"] * args.runs)

        m = medians(
            {
                "edit": lambda: set_status(path, target, next(flip)),
                "rt": lambda: YAML().load(text),
                "safe": lambda: YAML(typ="safe", pure=True).load(text),
            },
            args.runs,
        )
        edit, rt_load, safe_load = m["edit"], m["rt"], m["safe"]
        print(f"{args.projects} projects, {size / 1024:.0f} KiB, median of {args.runs} runs")
        print(f"  status edit (read, parse, edit, atomic write): {edit * 1000:8.1f} ms")
        print(f"  plain ruamel.yaml load, YAML():                {rt_load * 1000:8.1f} ms")
        print(f"  ruamel.yaml load, YAML(typ='safe'):            {safe_load * 1000:8.1f} ms")
        print(f"  ratio edit / YAML() load:      {edit / rt_load:.2f}x  (goal <= 1.5x)")
        print(f"  ratio edit / safe load:        {edit / safe_load:.2f}x")

        python = sys.executable
        foreman = [python, "-m", "assistant", "projects", "--json"]
        w = medians(
            {
                "import": command([python, "-c", "import ruamel.yaml"], root),
                "small": command(foreman, small),
                "big": command(foreman, root),
            },
            args.runs,
        )
        baseline, twenty, big = w["import"], w["small"], w["big"]
        print("start-up, median wall time")
        print(f'  python -c "import ruamel.yaml":          {baseline * 1000:8.1f} ms')
        print(f"  foreman projects --json (20 projects):   {twenty * 1000:8.1f} ms"
              f"  ({twenty / baseline:.2f}x)")  # fmt: skip
        print(f"  foreman projects --json ({args.projects} projects): {big * 1000:8.1f} ms"
              f"  ({big / baseline:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()

"""Create + terminate a builder of 1, 3 and 10 worktrees vs the same git commands run concurrently.

    python bench/builders.py [--runs N] [--sizes 1,3,10]

What is compared, in the same run on the same workspace, A and B alternating (ABBA order):

- A, the orchestrator (native back-end): `create_builder` then `terminate_builder` of a builder
  whose N worktrees are the workspace root plus N-1 repos under repos/.
- B, the baseline: the git commands the orchestrator must run for the same job, from a plain
  script that starts each phase's commands for all repos at once (what the orchestrator could do
  at best): `git worktree add -b` for every repo; then, per worktree, the two reads that say what
  terminating would lose (`git status` with ignored files, `git log` of commits on no remote);
  then `git worktree remove`.

The figure is the median of the per-run ratios A/B (each A against the B beside it): the
orchestrator's own cost (Python, planning, refusal checks) on top of git's. The time of add +
remove alone (no safety reads) is printed too, for scale. The goal is a ratio of at most 1.3 for
every size. Ends with one `figure` line per size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.orchestrator import Orchestrator, make_demo_workspace
from tools.workspace import Workspace

GOAL = 1.3
PROJECT = "0016"  # lists no repos: the bench adds exactly the N-1 it wants


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def concurrently(commands: Sequence[tuple[Path, list[str]]]) -> None:
    """Start every command, then wait for all: one phase of the baseline."""
    running = [
        subprocess.Popen(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for cwd, args in commands
    ]
    for process in running:
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(err.decode())


def raw_git(root: Path, repos: Sequence[str], run: int, *, reads: bool = True) -> float:
    sources = [root, *(root / "repos" / r for r in repos)]
    target = root / ".builders" / f"raw-{run}"
    paths = [target / ("workspace-root" if s == root else s.name) for s in sources]
    branch = f"raw/{run}"
    start = time.perf_counter()
    target.mkdir(parents=True)
    concurrently(
        [
            (s, ["worktree", "add", "-q", "-b", branch, str(p), "HEAD"])
            for s, p in zip(sources, paths, strict=True)
        ]
    )
    if reads:
        status = [
            "status",
            "--porcelain=v1",
            "-b",
            "-z",
            "--untracked-files=all",
            "--ignored=matching",
        ]
        log = [
            "log",
            "--format=%h%x00%s%x00%cI",
            "HEAD",
            "--not",
            "--remotes",
            f"--exclude={branch}",
            "--branches",
        ]
        concurrently([(p, args) for p in paths for args in (status, log)])
    concurrently([(s, ["worktree", "remove", str(p)]) for s, p in zip(sources, paths, strict=True)])
    target.rmdir()
    elapsed = time.perf_counter() - start
    for source in sources:  # not timed: keep every run on the same number of branches
        git(source, "branch", "-q", "-D", branch)
    return elapsed


def orchestrated(orch: Orchestrator, root: Path, repos: Sequence[str], run: int) -> float:
    async def both() -> None:
        builder = await orch.create_builder(PROJECT, extra_repos=repos, name=f"run{run}")
        result = await orch.terminate_builder(builder.name)
        assert result.done, result.render()

    start = time.perf_counter()
    asyncio.run(both())
    elapsed = time.perf_counter() - start
    for source in [root, *(root / "repos" / r for r in repos)]:
        git(source, "branch", "-q", "-D", f"builder/{PROJECT}-run{run}")
    return elapsed


def spread(values: list[float], scale: float = 1000) -> str:
    """Interquartile range (in ms by default): how much the runs moved."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return f"{(q[2] - q[0]) * scale:.2f}"


def measure(workspace: Workspace, size: int, runs: int) -> float:
    root = Path(workspace.root)
    repos = [f"repo{i}" for i in range(1, size)]
    orch = Orchestrator(workspace, backend="native")
    sides: dict[str, Callable[[int], float]] = {
        "ours": lambda run: orchestrated(orch, root, repos, run),
        "base": lambda run: raw_git(root, repos, run),
        "bare": lambda run: raw_git(root, repos, run, reads=False),
    }
    times: dict[str, list[float]] = {k: [] for k in sides}
    for key, side in sides.items():  # warm-up: imports, first config reads, disk caches
        side(-1 - len(key))
    for run in range(runs):
        # ABBA: each side goes first half the time, so drift and load hit both alike
        order = list(sides) if run % 2 == 0 else list(reversed(sides))
        for key in order:
            times[key].append(sides[key](run))
    ours, base, bare = (statistics.median(times[k]) for k in ("ours", "base", "bare"))
    # each run's A against the B measured beside it: drift in machine load cancels out
    ratios = [o / b for o, b in zip(times["ours"], times["base"], strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"{size:2} worktrees: orchestrator {ours * 1000:6.1f} ms (IQR {spread(times['ours'])}),"
        f" same git commands {base * 1000:6.1f} ms (IQR {spread(times['base'])});"
        f" paired ratio median {ratio:.2f}x (IQR {spread(ratios, 1)})"
        f" [add+remove alone {bare * 1000:.1f} ms]"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--sizes", default="1,3,10")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        print(f"create + terminate, native back-end, median of {args.runs} interleaved runs")
        for size in sizes:
            repos = tuple(f"repo{i}" for i in range(1, size))
            workspace = make_demo_workspace(Path(tmp) / f"ws{size}", taskfile=False, repos=repos)
            results[size] = measure(workspace, size, args.runs)
    for size, ratio in results.items():
        print(f"figure builders_create_terminate_{size}_worktrees {ratio:.2f} goal <= {GOAL}")


if __name__ == "__main__":
    main()

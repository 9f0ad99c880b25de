"""Create + terminate a 3-repo builder, against the same worktrees made with raw git commands.

    python bench/builders.py [--runs N]

The baseline, measured in the same run on the same workspace: for the workspace repository and
each of the three repos, `git worktree add -b <branch> <path> HEAD`, then `git worktree remove`
and `git worktree prune`, one after another (what a hand-written script does). The orchestrator
does more (validation, dirty checks, the Taskfile), so the goal is a ratio of at most 1.3.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.orchestrator import Orchestrator, make_demo_workspace, task_binary

REPOS = ("ai-dev", "domain-apis", "web")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def raw_git(root: Path, run: int) -> float:
    sources = [root, *(root / "repos" / r for r in REPOS)]
    target = root / ".builders" / f"raw-{run}"
    start = time.perf_counter()
    target.mkdir(parents=True)
    for source in sources:
        git(source, "worktree", "add", "-q", "-b", f"raw/{run}", str(target / source.name), "HEAD")
    for source in sources:
        git(source, "worktree", "remove", str(target / source.name))
        git(source, "worktree", "prune")
    target.rmdir()
    elapsed = time.perf_counter() - start
    for source in sources:  # not timed: keep every run on the same number of branches
        git(source, "branch", "-q", "-D", f"raw/{run}")
    return elapsed


def raw_task(root: Path, run: int) -> float:
    """The Taskfile's own tasks, run by hand: what the Taskfile back-end adds its checks to."""
    task = task_binary() or "task"
    start = time.perf_counter()
    subprocess.run(
        [task, "-s", "builder:init", f"BUILDER_NAME=task-{run}", f"REPOS={','.join(REPOS)}"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [task, "-s", "builder:cleanup", f"BUILDER_NAME=task-{run}"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - start
    for source in [root, *(root / "repos" / r for r in REPOS)]:
        git(source, "branch", "-q", "-D", f"builder/task-{run}")
    return elapsed


def orchestrated(orch: Orchestrator, root: Path, run: int) -> float:
    async def both() -> None:
        builder = await orch.create_builder("0015", extra_repos=["web"], name=f"run{run}")
        result = await orch.terminate_builder(builder.name)
        assert result.done, result.render()

    start = time.perf_counter()
    asyncio.run(both())
    elapsed = time.perf_counter() - start
    for source in [root, *(root / "repos" / r for r in REPOS)]:
        git(source, "branch", "-q", "-D", f"builder/0015-run{run}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        workspace = make_demo_workspace(Path(tmp) / "ws", repos=REPOS)
        root = Path(workspace.root)
        print(f"create + terminate a builder of 3 repos + workspace-root, median of {runs} runs")
        for backend in ("native", "taskfile"):
            orch = Orchestrator(workspace, backend=backend)
            ours: list[float] = []
            base: list[float] = []
            by_hand: list[float] = []
            orchestrated(orch, root, -1)  # warm-up: imports, first git config reads
            for run in range(runs):
                # interleaved, so load on the machine hits every side alike
                base.append(raw_git(root, run))
                ours.append(orchestrated(orch, root, run))
                if backend == "taskfile":
                    by_hand.append(raw_task(root, run))
            b, o = statistics.median(base), statistics.median(ours)
            print(
                f"{backend:9} orchestrator {o * 1000:7.1f} ms   raw git {b * 1000:7.1f} ms"
                f"   ratio {o / b:.2f}x (goal <= 1.3x)"
            )
            if by_hand:
                t = statistics.median(by_hand)
                print(
                    f"{'':9} (the same two tasks run by hand {t * 1000:7.1f} ms:"
                    f" orchestrator / by hand {o / t:.2f}x)"
                )


if __name__ == "__main__":
    main()

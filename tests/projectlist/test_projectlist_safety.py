"""Several real processes editing one file, writers killed mid-write, stale writers."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.projectlist import StaleFileError, load, set_status, temp_files

REPO_ROOT = Path(__file__).resolve().parents[2]
CYCLE = ("planned", "implementing", "implemented", "committed")


def python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


EDITOR = f"""
import sys, time
from pathlib import Path
from tools.projectlist import set_status
path, project_id, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
for status in {CYCLE!r}:
    set_status(path, project_id, status)
print("done", project_id)
"""


def test_concurrent_writers_on_different_projects_lose_nothing(codev_file: Callable) -> None:
    ids = [f"{n:04d}" for n in range(1, 7)]
    path = codev_file([(pid, "conceived") for pid in ids])
    start = time.time() + 1.0  # all start editing together, after their imports
    procs = [python(EDITOR, str(path), pid, str(start)) for pid in ids]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    plist = load(path)
    # every writer's last change landed, and so did its timestamps
    assert {p.id: p.status for p in plist.projects} == dict.fromkeys(ids, CYCLE[-1])
    for pid in ids:
        stamps = plist.get(pid).extra["timestamps"]
        assert all(stamps[f"{status}_at"] for status in CYCLE), (pid, stamps)
    assert temp_files(path) == []


def test_writer_holding_a_stale_copy_is_refused(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned"), ("0002", "planned")])
    seen = load(path)  # what a human was shown
    other = python(
        "import sys; from pathlib import Path; from tools.projectlist import set_status;"
        "set_status(Path(sys.argv[1]), '0002', 'abandoned')",
        str(path),
    )
    assert other.wait(timeout=60) == 0
    after_other = path.read_bytes()
    with pytest.raises(StaleFileError):
        set_status(path, "0001", "implementing", expected_digest=seen.digest)
    assert path.read_bytes() == after_other


KILLED_BEFORE_RENAME = """
import os, signal, sys
from pathlib import Path
from tools.projectlist import set_status
# Die the way a power cut or `kill -9` would: temp file written and fsynced, rename not done.
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
set_status(Path(sys.argv[1]), "0001", "implementing")
"""


def test_writer_killed_before_rename_leaves_the_old_file(codev_file: Callable) -> None:
    path = codev_file([("0001", "planned")])
    before = path.read_bytes()
    proc = python(KILLED_BEFORE_RENAME, str(path))
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    leftovers = temp_files(path)
    assert len(leftovers) == 1 and b"status: implementing" in leftovers[0].read_bytes()
    # readers are not confused by it, and the next writer clears it away
    assert load(path).get("0001").status == "planned"
    set_status(path, "0001", "implementing")
    assert temp_files(path) == []
    assert load(path).get("0001").status == "implementing"


FLIPPER = """
import sys
from pathlib import Path
from tools.projectlist import set_status
path = Path(sys.argv[1])
print("ready", flush=True)
while True:
    set_status(path, "0001", "implementing", timestamp=None)
    set_status(path, "0001", "planned", timestamp=None)
"""


def test_writer_killed_at_random_points_never_leaves_a_broken_file(
    codev_file: Callable,
) -> None:
    path = codev_file([("0001", "planned"), ("0002", "committed")])
    planned = path.read_bytes()
    implementing = planned.replace(b"status: planned", b"status: implementing")
    rng = random.Random(2)
    for _ in range(8):
        proc = python(FLIPPER, str(path))
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.02, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert path.read_bytes() in (planned, implementing)
        assert load(path).errors == ()
    set_status(path, "0002", "integrated")
    assert temp_files(path) == []

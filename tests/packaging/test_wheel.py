"""The built wheel: what a user gets from `pip install` (prompts ship inside it)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
         str(target), str(wheel)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return target


def test_wheel_holds_the_packages_and_the_foreman_command(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("assistant", "tools", "prompts"):
        assert f"{package}/__init__.py" in names
    assert "tools/projectlist/_parse.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "foreman = assistant.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    # tests, benchmarks and the corpus stay out of what users install
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]


def test_every_prompt_loads_from_the_installed_wheel(installed: Path) -> None:
    sources = sorted((REPO_ROOT / "prompts").glob("*.md"))
    # Run away from the checkout, with the wheel's install first on sys.path, so nothing can
    # come from the source tree or an editable install.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import prompts\n"
        "assert prompts.__file__.startswith(sys.argv[1]), prompts.__file__\n"
        "for name in sys.argv[2:]:\n"
        "    sys.stdout.write(prompts.load(name) + '\\0')\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", code, str(installed), *(p.stem for p in sources)],
        capture_output=True,
        text=True,
        cwd=installed.parent,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split("\0")[:-1]
    assert loaded == [p.read_text(encoding="utf-8") for p in sources]
    assert "Foreman" in loaded[[p.stem for p in sources].index("assistant")]

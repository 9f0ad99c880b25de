from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.orchestrator import Orchestrator, make_demo_workspace
from tools.workspace import Workspace


@pytest.fixture(params=["native", "taskfile"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(make_demo_workspace(tmp_path_factory.mktemp("template") / "ws").root)


@pytest.fixture
def workspace(tmp_path: Path, demo_template: Path) -> Workspace:
    """A fresh copy of the demo workspace (building one per test costs ~15 git processes)."""
    root = tmp_path / "ws"
    shutil.copytree(demo_template, root, symlinks=True)
    for config in root.glob("repos/*/.git/config"):
        # the origin remotes are absolute paths into the template
        config.write_text(config.read_text().replace(str(demo_template), str(root)))
    return Workspace(root=root, projectlist_path=root / ".ai" / "projectlist.md")


@pytest.fixture
def orch(workspace: Workspace, backend: str) -> Orchestrator:
    return Orchestrator(workspace, backend=backend)  # type: ignore[arg-type]


@pytest.fixture
def all_repos(workspace: Workspace) -> list[Path]:
    root = Path(workspace.root)
    return [root, root / "repos" / "ai-dev", root / "repos" / "domain-apis"]

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic_ai import models

# `opencode_server`, `fake_llm`, `fake_llm_server`: one real OpenCode server shared by every tier;
# `fake_anthropic`: a model provider on 127.0.0.1 that fails the way the real ones do.
pytest_plugins = ["tests.opencode_server", "tests.fake_provider"]

# No test may reach a paid model; scripted models (FunctionModel, TestModel) still work.
models.ALLOW_MODEL_REQUESTS = False

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("FOREMAN_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test needs the live `opencode serve` exactly when it uses the server fixture, so the
    # `opencode` marker follows the fixture instead of being remembered by hand.
    for item in items:
        if "opencode_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.opencode)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared real-world corpus, read in place (never copied into the project)."""
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"corpus not found at {CORPUS}; CI must have ../shared/corpus")
        pytest.skip(f"corpus not found at {CORPUS} (set FOREMAN_CORPUS)")
    return CORPUS


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing a test does may touch the user's own state or workspace.
    monkeypatch.setenv("FOREMAN_STATE_DIR", str(tmp_path / "state"))
    for name in ("FOREMAN_WORKSPACE", "FOREMAN_CONFIG", "FOREMAN_MODEL", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    # `foreman serve` would start its own `opencode serve` with the user's HOME: only the tests
    # of that (tests/opencode/test_managed_server.py, …) turn it on, with an isolated one
    monkeypatch.setenv("FOREMAN_OPENCODE_MANAGE", "off")

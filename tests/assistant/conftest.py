from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.dm import DirectMessages
from assistant.store import Store, open_store
from tests.assistant.scripted_chat import ADA, MALLORY
from tools.orchestrator import make_demo_workspace
from tools.workspace import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_demo_workspace(tmp_path / "ws")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "state")
    yield s
    s.close()


@pytest.fixture
def make_service(store: Store, workspace: Workspace) -> Callable[..., DirectMessages]:
    def make(model: Any = None, **kwargs: Any) -> DirectMessages:
        return DirectMessages(store, workspace, model, {ADA.key, MALLORY.key}, **kwargs)

    return make

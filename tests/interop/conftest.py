"""Fixtures every interop test shares: a demo workspace and the assistant that speaks for HUMAN."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest

from assistant.agent import offline_model
from assistant.dm import DirectMessages
from assistant.evals import demo_workspace
from assistant.messages import Principal
from assistant.store import open_store

HUMAN = Principal("terminal", getpass.getuser())


@pytest.fixture
def workspace(tmp_path: Path) -> Any:
    return demo_workspace(tmp_path / "workspace")


@pytest.fixture
def service(workspace: Any) -> DirectMessages:
    # The caller is no principal: it only ever speaks for the human.
    return DirectMessages(open_store(), workspace, offline_model(), principals={HUMAN.key})

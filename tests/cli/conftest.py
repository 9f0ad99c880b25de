from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspaces import ai_workspace

PROJECTLIST = """\
# Projects

```yaml
projects:
  - id: "0014"
    title: "Telegram relay"
    status: implementing
    repos: [foreman, infra]
    chat_binding:
      platform: telegram
      group_name: "Foreman 0014"
      trigger: mention
      mention_patterns: ["@foreman"]
    tags: [relay]
    owner: alice
    timestamps:
      implementing_at: "2026-01-05T09:00:00+01:00"
      implemented_at: null
      integrated_at: null
  - id: "0015"
    title: "Evals"
    status: conceived
    repos: [foreman]
  - id: "0016"
    title: "WhatsApp channel"
    status: planned
    repos: [foreman]
    chat_binding:
      platform: whatsapp
      channel_id: "120363@g.us"
```
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small `.ai/` workspace, and the current directory inside it."""
    root = ai_workspace(tmp_path / "ws", PROJECTLIST)
    monkeypatch.chdir(root)
    monkeypatch.setenv("COLUMNS", "100")
    return root

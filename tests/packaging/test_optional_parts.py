"""An optional part that is not installed is one line naming the command that installs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from inline_snapshot import snapshot

from assistant.cli import cli
from tests.workspaces import ai_workspace

REPO = Path(__file__).resolve().parents[2]
PROJECTLIST = '```yaml\nprojects:\n  - id: "0001"\n    title: "A"\n    status: planned\n```\n'


def test_a_telegram_webhook_without_its_server_names_the_install_command(tmp_path: Path) -> None:
    # tornado (python-telegram-bot[webhooks]) is not part of the base or dev install
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    config = tmp_path / "foreman.toml"
    config.write_text(
        '[telegram]\ntoken = "1:x"\nallowed_users = [42]\nwebhook_url = "https://example.org/tg"\n'
    )
    result = CliRunner().invoke(
        cli,
        ["serve", "--config", str(config)],
        env={"FOREMAN_WORKSPACE": str(workspace), "FOREMAN_STATE_DIR": str(tmp_path / "s")},
    )
    assert result.exit_code == 1
    assert result.output == snapshot(
        "Error: telegram webhook_url needs the webhook server: pip install 'foreman-assistant[webhooks]' (or unset it to poll)\n"
    )


def test_serving_mcp_without_the_mcp_extra_names_the_install_command(tmp_path: Path) -> None:
    workspace = ai_workspace(tmp_path / "ws", PROJECTLIST)
    # as if fastmcp were not installed: an import of it fails as a missing module does
    code = (
        "import sys; sys.modules['fastmcp'] = None\n"
        "from assistant.cli import main; sys.argv = ['foreman', 'serve']; main()\n"
    )
    env = {
        **os.environ,
        "FOREMAN_WORKSPACE": str(workspace),
        "FOREMAN_STATE_DIR": str(tmp_path / "state"),
        "FOREMAN_TELEGRAM_TOKEN": "1:x",
        "FOREMAN_TELEGRAM_ALLOWED_USERS": "42",
        "FOREMAN_MCP_HTTP": "127.0.0.1:1",
        "FOREMAN_MCP_TOKEN": "t",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr == snapshot(
        "Error: mcp.http: the MCP server is not installed: pip install 'foreman-assistant[mcp]'\n"
    )

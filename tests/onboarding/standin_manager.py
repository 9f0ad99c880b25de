"""Stand-ins for `systemctl` and `loginctl` on PATH: they record their calls.

The real ones need a user session manager (a logged-in systemd user instance) that tests do not
have; what Foreman asks of them is what these record.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

STANDIN = """\
#!/bin/sh
# a stand-in for {name}: the real one needs a user session this test does not have
echo "{name} $*" >> "$STANDIN_CALLS"
case "$*" in
  *show*) cat "$STANDIN_SHOW" 2>/dev/null || echo LoadState=not-found ;;
esac
if [ -n "$STANDIN_FAIL" ]; then echo "$STANDIN_FAIL" >&2; exit 1; fi
"""


class Manager:
    """The stand-in systemctl and loginctl, and what they were asked to do."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        bin_dir = root / "bin"
        bin_dir.mkdir()
        for name in ("systemctl", "loginctl"):
            script = bin_dir / name
            script.write_text(STANDIN.format(name=name))
            script.chmod(0o755)
        self.calls_file = root / "calls"
        self.show_file = root / "show"
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("STANDIN_CALLS", str(self.calls_file))
        monkeypatch.setenv("STANDIN_SHOW", str(self.show_file))
        monkeypatch.delenv("STANDIN_FAIL", raising=False)

    def calls(self) -> list[str]:
        if not self.calls_file.exists():
            return []
        lines = self.calls_file.read_text().splitlines()
        self.calls_file.unlink()
        return lines

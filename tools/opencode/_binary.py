from __future__ import annotations

import os
import shutil
from pathlib import Path

# tools/opencode/_binary.py -> the checkout root, where the README's test command installs it
_REPO_ROOT = Path(__file__).resolve().parents[2]
_NPM_PREFIX = _REPO_ROOT / ".venv" / "opencode" / "node_modules"


def find_opencode_binary() -> Path | None:
    """$FOREMAN_OPENCODE_BIN, else the copy the README installs under .venv/opencode, else PATH."""
    configured = os.environ.get("FOREMAN_OPENCODE_BIN")
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    # the platform package's binary first (no Node needed), then npm's link for other platforms
    candidates = [
        *(
            _NPM_PREFIX / p / "bin" / "opencode"
            for p in ("opencode-linux-x64", "opencode-linux-x64-baseline")
        ),
        _NPM_PREFIX / ".bin" / "opencode",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("opencode")
    return Path(found) if found else None

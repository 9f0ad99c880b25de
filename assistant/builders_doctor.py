"""`foreman doctor` checks for builders: the `task` binary and the OpenCode server."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

from assistant.doctor import Check, DoctorContext, Tier, doctor_check
from tools.opencode import OpenCodeClient, OpenCodeError
from tools.orchestrator import task_binary


@doctor_check("builders", Tier.BUILDERS)
def check_builders(context: DoctorContext) -> list[Check]:
    """The `task` binary builders are made with, and the OpenCode server they get sessions on."""
    checks = []
    binary = task_binary()
    try:
        if binary is None:
            raise OSError("not found (install go-task-bin or set FOREMAN_TASK_BIN)")
        done = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=True
        )
        version = done.stdout.strip()
        checks.append(Check("task", True, f"{version} at {binary}", {"path": binary}))
    except (OSError, subprocess.SubprocessError) as e:
        detail = f"`task` {e}; only the native builder back-end can run"
        checks.append(Check("task", False, detail, {"path": binary}))

    client = OpenCodeClient.from_env()
    if client is None:
        detail = (
            "not configured (FOREMAN_OPENCODE_URL): builders made outside `foreman serve` "
            "get no session"
        )
        checks.append(Check("opencode", True, detail, {"url": None}))
        return checks

    async def health() -> dict[str, Any]:
        async with client:
            return await client.health()

    try:
        answer = asyncio.run(health())
    except OpenCodeError as e:
        checks.append(Check("opencode", False, str(e), {"url": client.base_url}))
    else:
        version = answer.get("version", "?")
        detail = f"{client.base_url} healthy, version {version}"
        checks.append(Check("opencode", True, detail, {"url": client.base_url, "version": version}))
    return checks

"""`foreman doctor` lines for MCP/A2A and the evals: what is installed and configured."""

from __future__ import annotations

import importlib.metadata
import os

from assistant.doctor import Check, DoctorContext


def check_interop(context: DoctorContext) -> list[Check]:
    from assistant.interop._auth import A2A_TOKEN_VARIABLES, MCP_TOKEN_VARIABLE
    from assistant.interop._bridge import local_human

    versions = {}
    for package in ("fastmcp", "fasta2a"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    missing = [p for p, v in versions.items() if v is None]
    installed = ", ".join(f"{p} {v}" for p, v in versions.items() if v)
    tokens = {
        "mcp_token_set": bool(os.environ.get(MCP_TOKEN_VARIABLE)),
        "a2a_token_set": any(os.environ.get(v) for v in A2A_TOKEN_VARIABLES),
    }
    try:
        approver = local_human().key
    except ValueError as error:
        return [Check("mcp/a2a", False, f"FOREMAN_APPROVER: {error}")]
    detail = (
        f"{installed or 'not installed'}"
        + (
            f" (missing {', '.join(missing)}: pip install 'foreman-assistant[mcp]')"
            if missing
            else ""
        )
        + f"; cards go to {approver}; HTTP token "
        + ("set" if tokens["mcp_token_set"] else f"not set ({MCP_TOKEN_VARIABLE}); stdio only")
    )
    return [Check("mcp/a2a", True, detail, {**versions, **tokens, "approver": approver})]


def check_evals(context: DoctorContext) -> Check:
    from assistant.evals import EvalSetupError, default_dataset_path, load_datasets

    path = default_dataset_path()
    try:
        datasets = load_datasets(path)
    except EvalSetupError as error:
        return Check("evals", True, f"{error}; `foreman eval --dataset PATH` still works")
    cases = sum(len(d.cases) for d in datasets)
    return Check(
        "evals",
        True,
        f"{cases} cases in {len(datasets)} datasets at {path}",
        {"path": str(path), "datasets": len(datasets), "cases": cases},
    )

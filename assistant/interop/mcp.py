"""Foreman as an MCP server (FastMCP): read tools, request tools, approval status, and `ask`.

There is deliberately no tool that approves: `request_*` tools file an approval card for the
human and return its id; `approval_status` reports what the human decided. Every tool that
takes a project id reads it as `foreman project ID` does: "14" is 0014.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from starlette.middleware import Middleware

from assistant import __version__
from assistant.interop import _reads
from assistant.interop._auth import MCP_TOKEN_VARIABLE, BearerAuth, LoopbackOrigins
from assistant.interop._bridge import Bridge, RequestRefused
from assistant.messages import Principal

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from tools.workspace import Workspace

INSTRUCTIONS = (
    "Foreman manages a workspace's project list and its coding builders. Read freely. Changes "
    "(status, builder create/terminate, a message to a builder) are only requested here: each "
    "request returns an approval id that a human decides on; poll approval_status(id). Nothing "
    "you call can approve."
)


def build_mcp_server(bridge: Bridge, *, caller: Principal) -> FastMCP:
    """The server; `caller` is who asks (in its own chat), never who approves."""
    mcp = FastMCP("foreman", version=__version__, instructions=INSTRUCTIONS)
    workspace = bridge.workspace

    @mcp.tool
    def list_projects(
        status: str | None = None, query: str | None = None, limit: int = _reads.DEFAULT_LIMIT
    ) -> dict[str, Any]:
        """List projects (id, title, status, repos, builders): filter by status and/or a text
        in id or title; at most `limit` (max 500), then how many more."""
        return _reads.list_projects(workspace, status, query, limit)

    @mcp.tool
    def get_project(id: str) -> dict[str, Any]:
        """Show one project by id (e.g. "0014"): all its fields and its builders."""
        return _read(lambda: _reads.get_project(workspace, id))

    @mcp.tool
    async def list_builders() -> list[dict[str, Any]]:
        """List builders on disk with their worktrees' state."""
        return await _reads.list_builders(workspace)

    @mcp.tool
    async def builder_status(name: str) -> dict[str, Any]:
        """Show one builder: each worktree clean or dirty, ahead/behind, last commit."""
        try:
            return await _reads.builder_status(workspace, name)
        except _reads.NotFound as error:
            raise ToolError(str(error)) from None

    @mcp.tool
    async def reconcile() -> dict[str, Any]:
        """Compare builders on disk with git's worktrees and report what does not match."""
        return await _reads.reconcile(workspace)

    @mcp.tool
    async def request_status_change(id: str, status: str, reason: str = "") -> dict[str, Any]:
        """Ask the human to approve a project status change; returns the pending approval."""
        args = {"id": _known_id(workspace, id), "status": status, "reason": reason}
        return await _request(bridge, caller, "set_project_status", args)

    @mcp.tool
    async def request_builder_create(
        project_id: str, extra_repos: list[str] | None = None, name: str | None = None
    ) -> dict[str, Any]:
        """Ask the human to approve a new builder for a project; returns the approval."""
        args = {
            "project_id": _known_id(workspace, project_id),
            "extra_repos": extra_repos or [],
            "name": name,
        }
        return await _request(bridge, caller, "create_builder", args)

    @mcp.tool
    async def request_builder_terminate(name: str, force: bool = False) -> dict[str, Any]:
        """Ask the human to approve terminating a builder (force: discard its work)."""
        tool = "force_terminate_builder" if force else "terminate_builder"
        return await _request(bridge, caller, tool, {"name": name})

    @mcp.tool
    async def request_builder_message(name: str, text: str) -> dict[str, Any]:
        """Ask the human to approve sending text to a builder (name, or project id)."""
        return await _request(bridge, caller, "message_builder", {"name": name, "text": text})

    @mcp.tool
    def approval_status(id: str) -> dict[str, Any]:
        """The state of an approval (pending, approved, rejected, ...) and its result."""
        view = bridge.status(id)
        if view is None:
            raise ToolError(f"no approval {id!r}")
        return view

    @mcp.tool
    async def ask(message: str) -> dict[str, Any]:
        """Talk to the assistant in your own chat; changes it proposes wait for the human."""
        result = await bridge.ask(caller, message)
        if result.get("failed"):
            raise ToolError(result["failed"])
        return result

    return mcp


def http_app(server: FastMCP, token: str) -> Starlette:
    """Streamable HTTP at /mcp: web pages from other origins get 403, callers without the
    token a 401 that says so (Foreman has no OAuth for a client to discover).
    """
    return server.http_app(
        middleware=[
            Middleware(LoopbackOrigins),
            Middleware(BearerAuth, token=token, variable=MCP_TOKEN_VARIABLE),
        ]
    )


async def serve_http(server: FastMCP, host: str, port: int, token: str) -> None:
    import uvicorn

    config = uvicorn.Config(http_app(server, token), host=host, port=port, log_level="warning")
    await uvicorn.Server(config).serve()


def _known_id(workspace: Workspace, given: str) -> str:
    """The project id as the file spells it ("14" -> "0014"), or a ToolError naming the ids."""
    return _read(lambda: _reads.project_id(workspace, given))


def _read(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except _reads.NotFound as error:
        raise ToolError(str(error)) from None


async def _request(
    bridge: Bridge, caller: Principal, tool: str, args: dict[str, Any]
) -> dict[str, Any]:
    try:
        return await bridge.request(caller, tool, args)
    except RequestRefused as error:
        raise ToolError(str(error)) from None

"""With a real `opencode serve` configured, builders get sessions and the assistant reports them."""

from __future__ import annotations

import json

from pydantic_ai.messages import ModelRequest, TextPart, ToolReturnPart

from tests.assistant.conftest import ADA
from tests.assistant.scripted_chat import Scripted, call, dm
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator


async def test_created_builder_has_a_session_the_assistant_reports(
    opencode_server, store, workspace
):
    from assistant.dm import DirectMessages

    client = OpenCodeClient(opencode_server.url, password=opencode_server.password)
    script = Scripted(
        [call("create_builder", project_id="0015")],
        [call("get_project", id="0015")],
        lambda messages: [TextPart("ok")],
    )
    svc = DirectMessages(
        store, workspace, script.model, {ADA.key}, orchestrator=Orchestrator(workspace, client)
    )
    try:
        [card] = await svc.handle(dm("start a builder for 0015"))
        [done] = await svc.handle(dm("yes"))
        assert done.text == "✓ Builder 0015-new-feature created at .builders/0015-new-feature"
        result = svc.approval(card.extra["approval_id"]).result
        assert result["details"]["session"].startswith("OpenCode session ses_")

        await svc.handle(dm("how is 0015 doing?"))
        [project] = [
            p.model_response_str()
            for m in script.seen[-1]
            if isinstance(m, ModelRequest)
            for p in m.parts
            if isinstance(p, ToolReturnPart) and p.tool_name == "get_project"
        ]
        [builder] = json.loads(project)["builders"]
        assert builder["name"] == "0015-new-feature"
        assert builder["session"].startswith("ses_") and builder["session"].endswith(" idle")

        [listing] = await svc.handle(dm("/builders"))
        assert listing.text.startswith("0015-new-feature (clean, session ses_")
    finally:
        await client.aclose()

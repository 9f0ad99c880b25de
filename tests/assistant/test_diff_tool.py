"""The read-only `builder_diff` tool: the model sees the same bounded summary as the CLI."""

from __future__ import annotations

from pathlib import Path

from inline_snapshot import snapshot
from pydantic_ai.messages import ModelRequest, TextPart, ToolReturnPart

from tests.assistant.scripted_chat import Scripted, call, dm


async def test_builder_diff_returns_the_summary_and_needs_no_approval(make_service, workspace):
    script = Scripted(
        [
            call("builder_diff", name="0014-ironman-training", repo="ai-dev"),
            call("builder_diff", name="0099-nothing"),
        ],
        lambda messages: [TextPart("ok")],
    )
    svc = make_service(script.model)
    builder = await svc.orchestrator.create_builder("0014")
    (Path(builder.path) / "ai-dev" / "intervals.py").write_text("print('tempo')\n")

    [reply] = await svc.handle(dm("what did the 0014 builder change?"))

    assert reply.text == "ok"  # answered at once: no approval card
    [summary, missing] = [
        p.model_response_str()
        for m in script.seen[1]
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    assert summary == snapshot("""\
0014-ironman-training: changes
  ai-dev (builder/0014-ironman-training)
    uncommitted: 1 file, +1 −0
      intervals.py  +1 (new, untracked)\
""")
    assert missing.startswith("error: no builder named 0099-nothing")

"""The read-only `builder_diff` tool: the model sees the same bounded summary as the CLI; the
full patch goes to the user as a `.diff` on the reply, and never into the model's context."""

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
      intervals.py  +1 (new, untracked)
(the full patch is attached to your reply as 0014-ironman-training-ai-dev.diff)\
""")
    assert missing.startswith("error: no builder named 0099-nothing")
    (patch,) = reply.files
    assert patch.filename == "0014-ironman-training-ai-dev.diff"
    assert patch.data.decode().splitlines()[-1] == "+print('tempo')"
    # the model saw the summary only, never the patch's lines
    assert "+print('tempo')" not in str(script.seen)


async def test_foreman_chat_saves_the_patch_under_the_state_and_prints_where(
    make_service, workspace, store
) -> None:
    import io

    from rich.console import Console

    from assistant.cli.chat import TerminalChat

    script = Scripted(
        [call("builder_diff", name="0014-ironman-training")], lambda _: [TextPart("ok")]
    )
    svc = make_service(script.model)
    builder = await svc.orchestrator.create_builder("0014")
    (Path(builder.path) / "ai-dev" / "intervals.py").write_text("print('tempo')\n")
    out = io.StringIO()
    chat = TerminalChat(svc, Console(file=out, width=300, color_system=None))
    answers = await svc.handle(dm("what did the 0014 builder change?"))
    chat.show(answers)
    chat.show(answers)  # the same file twice: the first is kept, the second gets its own name

    folder = store.path.parent / "foreman-files"
    saved = sorted(p.name for p in folder.iterdir())
    assert saved == ["0014-ironman-training-2.diff", "0014-ironman-training.diff"]
    assert (folder / "0014-ironman-training.diff").read_text().endswith("+print('tempo')\n")
    printed = out.getvalue()
    assert "📎 0014-ironman-training.diff (" in printed
    assert f"saved to {folder / '0014-ironman-training.diff'}" in printed
    assert not any(p.name.endswith(".diff") for p in Path(workspace.root).rglob("*"))

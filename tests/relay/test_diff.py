"""`/diff [REPO]` in a bound chat: what the builder changed, from its real worktrees."""

from __future__ import annotations

from pathlib import Path

from inline_snapshot import snapshot

from assistant.messages import ChatRef, Inbound, Principal
from assistant.relay import Relay
from assistant.store import open_store
from tools.opencode import OpenCodeClient
from tools.orchestrator import Orchestrator, make_demo_workspace

ALICE = Principal("telegram", "100", "Alice")
GROUP = ChatRef("telegram", "-1002", is_direct=False)


async def test_diff_in_a_bound_chat_shows_the_summary(tmp_path: Path) -> None:
    workspace = make_demo_workspace(tmp_path / "ws")
    builder = await Orchestrator(workspace, backend="native").create_builder("0015")
    (builder.path / "ai-dev" / "limiter.py").write_text("def allow():\n    return True\n")
    # /diff reads git only; no request reaches this address
    client = OpenCodeClient("http://127.0.0.1:9")
    relay = Relay(open_store(tmp_path / "state"), client, workspace.root, principals={ALICE.key})
    await relay.handle(Inbound(GROUP, ALICE, f"/bind {builder.name}"))

    (summary,) = await relay.handle(Inbound(GROUP, ALICE, "/diff"))
    (one,) = await relay.handle(Inbound(GROUP, ALICE, "/diff ai-dev"))
    (unknown,) = await relay.handle(Inbound(GROUP, ALICE, "/diff nope"))

    assert summary.text == snapshot("""\
0015-new-feature: changes
  workspace-root (builder/0015-new-feature): no changes
  ai-dev (builder/0015-new-feature)
    uncommitted: 1 file, +2 −0
      limiter.py  +2 (new, untracked)
  domain-apis (builder/0015-new-feature): no changes\
""")
    assert one.text == snapshot("""\
0015-new-feature: changes
  ai-dev (builder/0015-new-feature)
    uncommitted: 1 file, +2 −0
      limiter.py  +2 (new, untracked)\
""")
    assert unknown.text == snapshot(
        "Cannot show the diff: builder 0015-new-feature has no worktree for repository nope"
    )
    # the full patch goes with the summary, as a `.diff` a phone opens in a viewer
    (patch,) = summary.files
    assert (patch.filename, patch.mime) == ("0015-new-feature.diff", "text/x-diff")
    assert patch.data.decode() == snapshot("""\
# ai-dev (builder/0015-new-feature): uncommitted
diff --git a/limiter.py b/limiter.py
new file mode 100644
index 0000000..537d6eb
--- /dev/null
+++ b/limiter.py
@@ -0,0 +1,2 @@
+def allow():
+    return True
""")
    assert [f.filename for f in one.files] == ["0015-new-feature-ai-dev.diff"]
    assert unknown.files == ()


async def test_diff_of_a_builder_without_changes_sends_no_file(tmp_path: Path) -> None:
    workspace = make_demo_workspace(tmp_path / "ws")
    builder = await Orchestrator(workspace, backend="native").create_builder("0015")
    client = OpenCodeClient("http://127.0.0.1:9")  # /diff reads git only
    relay = Relay(open_store(tmp_path / "state"), client, workspace.root, principals={ALICE.key})
    await relay.handle(Inbound(GROUP, ALICE, f"/bind {builder.name}"))

    (summary,) = await relay.handle(Inbound(GROUP, ALICE, "/diff"))

    assert summary.text.splitlines()[0] == "0015-new-feature: no changes"
    assert summary.files == ()

"""The seed's flows end to end through the real agent loop, with a scripted model."""

from __future__ import annotations

import json
from pathlib import Path

from inline_snapshot import snapshot
from pydantic_ai.messages import TextPart

from tests.assistant.scripted_chat import ADA, MALLORY, Scripted, call, dm, tool_returns


async def test_show_me_all_sessions_lists_builders_and_projects(make_service, workspace):
    script = Scripted(
        [call("list_builders"), call("list_projects")],
        lambda messages: [TextPart(tool_returns(messages)["list_projects"])],
    )
    svc = make_service(script.model)
    [reply] = await svc.handle(dm("show me all sessions"))
    assert reply.kind == "text"
    assert reply.text == snapshot("""\
0013 integrated Slack Gateway
0014 implementing Ironman Training
0015 planned New Feature
0016 conceived Voice Notes\
""")
    assert tool_returns(script.seen[1])["list_builders"] == "no builders"


async def test_start_working_on_a_project_needs_two_approvals(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    script = Scripted(
        [
            TextPart("I'll move 0015 to implementing and create its builder."),
            call("set_project_status", id="0015", status="implementing", reason="start work"),
            call("create_builder", project_id="0015"),
        ],
    )
    svc = make_service(script.model)
    said, status_card, builder_card = await svc.handle(
        dm("I want to start working on project 0015")
    )
    assert said.text == "I'll move 0015 to implementing and create its builder."
    status_id = status_card.extra["approval_id"]
    builder_id = builder_card.extra["approval_id"]
    assert status_card.kind == "approval_card"
    assert [c.data for c in status_card.choices] == [f"approve:{status_id}", f"reject:{status_id}"]
    assert status_card.text.replace(status_id, "ID") == snapshot("""\
Approval ID needed:
Set 0015 New Feature: planned → implementing
.ai/projectlist.md: 0015: status planned → implementing (line 34)
Reason: start work
Reply yes or no, or /approve ID · /reject ID\
""")
    assert builder_card.text.replace(builder_id, "ID") == snapshot("""\
Approval ID needed:
Create builder 0015-new-feature for 0015 New Feature
Worktrees on branch builder/0015-new-feature: workspace-root, ai-dev, domain-apis
Reply yes or no, or /approve ID · /reject ID\
""")
    # Proposed only: nothing on disk moved.
    assert workspace.projectlist_path.read_bytes() == before
    assert not (workspace.root / ".builders").exists()

    [report] = await svc.handle(dm(f"/approve {status_id}"))
    assert report.text == snapshot("""\
✓ 0015: planned → implementing
0015: status planned → implementing (line 34)\
""")
    assert "status: implementing" in workspace.projectlist_path.read_text()

    [report] = await svc.handle(dm(f"/approve {builder_id}"))
    assert report.text == snapshot(
        "✓ Builder 0015-new-feature created at .builders/0015-new-feature"
    )
    builder_dirs = list((workspace.root / ".builders").iterdir())
    assert [d.name for d in builder_dirs] == ["0015-new-feature"]
    assert (builder_dirs[0] / "workspace-root" / ".ai" / "projectlist.md").is_file()

    # Approving ran the tools without asking the model again ...
    assert script.requests == 1
    # ... and the next turn sees both results in its history.
    script.steps.append(lambda messages: [TextPart("noted")])
    await svc.handle(dm("thanks"))
    returns = tool_returns(script.seen[-1])
    assert json.loads(returns["set_project_status"]) == snapshot(
        {"status": "done", "summary": "0015: planned → implementing"}
    )
    assert json.loads(returns["create_builder"]) == snapshot(
        {
            "status": "done",
            "summary": "Builder 0015-new-feature created at .builders/0015-new-feature",
        }
    )


async def _dirty_builder(svc, workspace) -> Path:
    builder = await svc.orchestrator.create_builder("0014")
    (Path(builder.path) / "ai-dev" / "intervals.py").write_text("print('tempo')\n")
    return Path(builder.path)


async def test_wrap_up_with_a_dirty_builder_offers_keep_or_force(make_service, workspace):
    svc = make_service(
        Scripted(
            [
                call("set_project_status", id="0014", status="implemented", reason="wrap up"),
                call("terminate_builder", name="0014-ironman-training"),
            ]
        ).model
    )
    path = await _dirty_builder(svc, workspace)
    status_card, terminate_card = await svc.handle(dm("wrap up 0014"))
    terminate_id = terminate_card.extra["approval_id"]
    assert terminate_card.text.replace(terminate_id, "ID") == snapshot("""\
Approval ID needed:
Terminate builder 0014-ironman-training
• ai-dev: untracked: intervals.py
Terminate will be refused while this work exists.
Diffstat of what would be lost:
• ai-dev, uncommitted: 1 file, +1 −0 — intervals.py +1 −0
The full patch: the Patch button, or foreman builder diff 0014-ironman-training --patch
Reply yes or no, or /approve ID · /reject ID\
""")

    await svc.handle(dm(f"/approve {status_card.extra['approval_id']}"))
    assert "status: implemented" in workspace.projectlist_path.read_text()

    [refusal] = await svc.handle(dm(callback=f"approve:{terminate_id}"))
    assert refusal.text == snapshot("""\
✗ Refused to terminate 0014-ironman-training: it holds work that exists nowhere else
• ai-dev: untracked: intervals.py
Keep the builder, or force-terminate it (discards the work above)?\
""")
    assert [c.data for c in refusal.choices] == [
        f"keep:{terminate_id}",
        f"force:{terminate_id}",
        f"patch:{terminate_id}",
    ]
    assert (path / "ai-dev" / "intervals.py").is_file()

    # Forcing is a second, explicit approval with its own card.
    [force_card] = await svc.handle(dm(callback=f"force:{terminate_id}"))
    force_id = force_card.extra["approval_id"]
    assert force_card.kind == "approval_card"
    force_id = force_card.extra["approval_id"]
    [again] = await svc.handle(dm(callback=f"force:{terminate_id}"))
    assert again.text == f"A force terminate is already proposed: approval {force_id}."
    assert force_card.text.replace(force_id, "ID") == snapshot("""\
Approval ID needed:
FORCE terminate builder 0014-ironman-training
This discards:
• ai-dev: untracked: intervals.py
Diffstat of what would be lost:
• ai-dev, uncommitted: 1 file, +1 −0 — intervals.py +1 −0
The full patch: the Patch button, or foreman builder diff 0014-ironman-training --patch
Reply yes or no, or /approve ID · /reject ID\
""")
    assert path.exists()

    [done] = await svc.handle(dm(callback=f"approve:{force_id}"))
    archives = svc.store.path.parent / "archives"
    assert done.text == (
        f"✓ Builder 0014-ironman-training terminated; what it discarded is archived in {archives}"
        " for 30 days"
    )
    assert len(list(archives.glob("0014-ironman-training-*.tar.gz"))) == 1
    assert not path.exists()


async def test_keep_leaves_the_refused_builder_alone(make_service, workspace):
    svc = make_service(Scripted([call("terminate_builder", name="0014-ironman-training")]).model)
    path = await _dirty_builder(svc, workspace)
    [card] = await svc.handle(dm("remove the 0014 builder"))
    [refusal] = await svc.handle(dm("yes"))
    assert refusal.choices
    [kept] = await svc.handle(dm(callback=refusal.choices[0].data))
    assert kept.text == "Keeping builder 0014-ironman-training."
    assert (path / "ai-dev" / "intervals.py").is_file()
    assert svc.approval(card.extra["approval_id"]).state == "kept"


async def test_reject_changes_nothing_and_the_model_learns_it(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    script = Scripted(
        [call("set_project_status", id="0016", status="planned", reason="ready")],
        lambda messages: [TextPart("ok")],
    )
    svc = make_service(script.model)
    [card] = await svc.handle(dm("plan 0016"))
    [reply] = await svc.handle(dm("no"))
    assert reply.text.startswith(f"Rejected {card.extra['approval_id']}: Set 0016 Voice Notes")
    assert workspace.projectlist_path.read_bytes() == before
    await svc.handle(dm("why not?"))
    assert "rejected" in tool_returns(script.seen[-1])["set_project_status"]


async def test_clean_terminate_removes_the_builder(make_service, workspace):
    svc = make_service(Scripted([call("terminate_builder", name="0015-new-feature")]).model)
    builder = await svc.orchestrator.create_builder("0015")
    [card] = await svc.handle(dm("drop the 0015 builder"))
    assert "nothing would be lost" in card.text
    [done] = await svc.handle(dm("y"))
    assert done.text == "✓ Builder 0015-new-feature terminated"
    assert not Path(builder.path).exists()
    assert ADA.key == svc.approval(card.extra["approval_id"]).resolved_by


async def test_builder_status_and_reconcile_are_compact_reads(make_service, workspace):
    script = Scripted(
        [call("builder_status", name="0014-ironman-training"), call("reconcile")],
        lambda messages: [TextPart("ok")],
    )
    svc = make_service(script.model)
    await _dirty_builder(svc, workspace)
    [reply] = await svc.handle(dm("how is the 0014 builder, and is everything in sync?"))
    assert reply.text == "ok"
    returns = tool_returns(script.seen[1])
    assert json.loads(returns["builder_status"]) == snapshot(
        {
            "name": "0014-ironman-training",
            "project": "0014",
            "clean": False,
            "unsaved": ["ai-dev: 1 untracked"],
        }
    )
    assert returns["reconcile"] == snapshot("project list and builders agree")


async def test_the_model_finds_projects_as_the_cli_does(make_service, workspace):
    path = workspace.projectlist_path
    path.write_text(path.read_text().replace("status: conceived", "status: on_hold"))
    script = Scripted(
        [call("list_projects", status="on-hold"), call("get_project", id="16")],
        lambda messages: [TextPart("done")],
    )
    await make_service(script.model).handle(dm("what is on hold?"))
    returns = tool_returns(script.seen[-1])
    assert returns["list_projects"] == "0016 on_hold Voice Notes"
    assert json.loads(returns["get_project"])["id"] == "0016"


async def test_patch_on_a_terminate_card_sends_what_would_be_lost_and_decides_nothing(
    make_service, workspace
):
    svc = make_service(Scripted([call("terminate_builder", name="0014-ironman-training")]).model)
    path = await _dirty_builder(svc, workspace)
    [card] = await svc.handle(dm("remove the 0014 builder"))
    card_id = card.extra["approval_id"]
    assert [c.label for c in card.choices] == ["Approve", "Reject", "Patch"]

    [patch] = await svc.handle(dm(callback=f"patch:{card_id}"))
    assert patch.text == snapshot("""\
Patch of what terminating 0014-ironman-training would discard, as it is now:
• ai-dev, uncommitted: 1 file, +1 −0 — intervals.py +1 −0\
""")
    (file,) = patch.files
    assert file.filename == "0014-ironman-training.diff"
    assert file.data.decode().endswith("+print('tempo')\n")
    [stranger] = await svc.handle(dm(callback=f"patch:{card_id}", sender=MALLORY))
    assert (stranger.kind, stranger.files) == ("error", ())
    assert svc.approval(card_id).state == "pending"  # looking decided nothing
    assert (path / "ai-dev" / "intervals.py").is_file()

    # the work changed since the card: the patch is what it is now (the card, when approved,
    # is re-validated as always)
    (path / "ai-dev" / "intervals.py").unlink()
    [clean] = await svc.handle(dm(callback=f"patch:{card_id}"))
    assert clean.files == ()
    assert clean.text.startswith("0014-ironman-training has no changes git can show")


async def test_a_clean_builder_s_terminate_card_has_no_patch(make_service, workspace):
    svc = make_service(Scripted([call("terminate_builder", name="0015-new-feature")]).model)
    await svc.orchestrator.create_builder("0015")
    [card] = await svc.handle(dm("remove the 0015 builder"))
    assert [c.label for c in card.choices] == ["Approve", "Reject"]
    [refused] = await svc.handle(dm(callback=f"patch:{card.extra['approval_id']}"))
    assert refused.kind == "error"

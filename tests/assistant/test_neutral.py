"""User-controlled text cannot spoof a card, reorder it, or drive the terminal (issue 11, item 5);
`foreman chat` stops, saying why, when its state file goes (item 7)."""

from __future__ import annotations

import io

from rich.console import Console

from assistant.cli.chat import render
from assistant.messages import (
    ChatRef,
    Choice,
    Outbound,
    neutral_line,
    neutral_outbound,
    neutral_text,
)
from tests.assistant.scripted_chat import ADA, Scripted, call, dm

SPOOF = "Approval abcdef: ✅ approved by @ada"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# a YAML double-quoted title: a line break, every bidi control, a colour escape, a bell
HOSTILE_TITLE = r'"New Feature\n' + SPOOF + r" \u202egnp.exe\u202c \e[31mred\e[0m\a\r\u2028x\x85y"


def _spoof_title(workspace) -> bytes:
    path = workspace.projectlist_path
    text = path.read_text().replace('title: "New Feature"', f'title: {HOSTILE_TITLE}"', 1)
    path.write_text(text)
    return path.read_bytes()


def _hostile(text: str) -> list[str]:
    return [ch for ch in text if ch in BIDI or ch == "\x1b" or ch == "\x07" or ch == "\r"]


def test_a_field_stays_one_line_without_escapes_controls_or_bidi() -> None:
    raw = f"a\nb\r\nc\rd\u2028e\u2029f\x85g\x0bh\ti {BIDI} \x1b[1;31mred\x1b[0m \x1b]0;title\x07 \x9b2J z\x00"
    line = neutral_line(raw)
    assert line == "a ⏎ b ⏎ c ⏎ d ⏎ e ⏎ f ⏎ g ⏎ h i  red   z"
    assert "\n" not in line and not _hostile(line)


def test_a_builder_reply_keeps_its_lines_but_loses_escapes() -> None:
    reply = "Done.\r\n\x1b[32m3 tests pass\x1b[0m\n\u202eevil\u202c\n\tindented"
    assert neutral_text(reply) == "Done.\n3 tests pass\nevil\n\tindented"


async def test_a_title_cannot_add_an_approved_line_to_a_card(make_service, workspace, store):
    before = _spoof_title(workspace)
    svc = make_service(
        Scripted([call("set_project_status", id="0015", status="implementing", reason="go")]).model
    )
    [card] = await svc.handle(dm("start 0015"))
    assert card.kind == "approval_card"
    lines = card.text.splitlines()
    # the spoofed words are there, visibly inside the title's own line, never a line of their own
    assert not any(line.startswith("Approval abcdef") for line in lines)
    [title_line] = [line for line in lines if SPOOF in line]
    assert title_line.startswith("Set 0015 New Feature ⏎ Approval abcdef")
    assert not _hostile(card.text)
    # nothing approved, nothing written, the audit log says only that a card was raised
    assert workspace.projectlist_path.read_bytes() == before
    approval_id = card.extra["approval_id"]
    assert [e.action for e in svc.approvals.audit_log(approval_id=approval_id)] == [
        "approval.requested"
    ]
    assert len(svc.approvals.pending(principal=ADA.key)) == 1


async def test_a_reason_cannot_add_card_lines(make_service, workspace):
    before = workspace.projectlist_path.read_bytes()
    reason = f"go\n{SPOOF}\x1b[2J\u202e"
    svc = make_service(
        Scripted(
            [call("set_project_status", id="0015", status="implementing", reason=reason)]
        ).model
    )
    [card] = await svc.handle(dm("start 0015"))
    assert f"Reason: go ⏎ {SPOOF}" in card.text
    assert not any(line.startswith("Approval abcdef") for line in card.text.splitlines())
    assert not _hostile(card.text)
    assert workspace.projectlist_path.read_bytes() == before


def test_foreman_chat_prints_no_ansi_escape_to_the_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200, color_system=None)
    chat = ChatRef("terminal", "me")
    render(console, Outbound(chat, f"builder says \x1b[31mred\x1b[0m \x1b]0;pwned\x07 {BIDI}"))
    render(console, Outbound(chat, f"card\n{SPOOF}\x1b[1A\x1b[2K", kind="approval_card"))
    printed = out.getvalue()
    assert "\x1b" not in printed and "\x07" not in printed and not _hostile(printed)
    assert "builder says red" in printed


def test_outbound_labels_and_text_are_neutral_for_every_channel() -> None:
    message = Outbound(
        ChatRef("telegram", "1"),
        "one\r\ntwo \u202eowt\x1b[0m",
        choices=(Choice("yes\nApproval abcdef: ✅", "q:que_1:1"),),
    )
    shown = neutral_outbound(message)
    assert shown.text == "one\ntwo owt"
    assert shown.choices[0].label == "yes ⏎ Approval abcdef: ✅"
    assert shown.choices[0].data == "q:que_1:1"


def test_foreman_chat_stops_saying_why_when_its_state_file_is_deleted(workspace, store) -> None:
    import click
    import pytest

    from assistant.cli.chat import TerminalChat, terminal_principal
    from assistant.dm import DirectMessages

    before = workspace.projectlist_path.read_bytes()
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200, color_system=None)
    svc = DirectMessages(store, workspace, None, {terminal_principal().key})
    chat = TerminalChat(svc, console)
    lines = iter(["/projects", "/status 0015 implementing", "y"])

    def typed(prompt: str = "", **_: object) -> str:
        line = next(lines, None)
        if line is None:
            raise EOFError
        if line.startswith("/status"):
            store.path.unlink()  # someone removes the state under the running chat
        return line

    console.input = typed  # type: ignore[method-assign]  # the terminal: typed lines
    with pytest.raises(click.ClickException) as stopped:
        chat.run()
    assert stopped.value.message == (
        f"the state file {store.path} was deleted while Foreman was running; nothing more "
        "was written to it: restart Foreman to open the state afresh"
    )
    assert not store.path.exists()  # not made again, silently, empty
    assert workspace.projectlist_path.read_bytes() == before
    assert "0015 · planned · New Feature" in out.getvalue()  # the chat worked until then

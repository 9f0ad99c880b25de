"""Speaking to a builder: the card shows the builder and the exact text; approved, it is sent.

A message may be proposed together with the builder it is for (start a project and tell its
builder where to begin): the card then names the builder its create card will make, and it
waits, still open, until that builder exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.messages import ChatRef, neutral_line, neutral_text
from assistant.relay import tell_builder
from assistant.spend import Ledger, held_because
from assistant.store import Store
from tools.opencode import OpenCodeError
from tools.orchestrator import Orchestrator, OrchestratorError, builders_by_project
from tools.projectlist import ProjectListError, load_async
from tools.workspace import Workspace

# a card shows the whole message, so the message is bounded by what a card can show
MAX_TEXT = 2000
QUOTE = "│ "  # every line of the message on the card starts so: none can pose as a card line


class MessageInvalid(Exception):
    """The message cannot be sent at all (empty, too long, no such builder)."""


@dataclass(frozen=True)
class MessagePlan:
    builder: str
    exists: bool
    text: str  # exactly what will be sent

    @property
    def title(self) -> str:
        later = "" if self.exists else " (once its create card is approved)"
        return neutral_line(f"Message builder {self.builder}{later}:")

    @property
    def body(self) -> str:
        return "\n".join(QUOTE + line for line in self.text.splitlines())


def message_text(args: dict[str, Any]) -> str:
    """The text as the card shows it and the builder gets it: plain, without controls."""
    text = neutral_text(args.get("text") or "").strip()
    if not text:
        raise MessageInvalid("the message is empty")
    if len(text) > MAX_TEXT:
        raise MessageInvalid(f"the message has {len(text)} characters; at most {MAX_TEXT}")
    return text


async def _builder(workspace: Workspace, orchestrator: Orchestrator, name: str) -> tuple[str, bool]:
    """(builder name, whether it exists) for a builder name or a project id."""
    try:
        if orchestrator.builder_path(name).is_dir():
            return name, True
    except OrchestratorError as exc:
        raise MessageInvalid(str(exc)) from exc
    try:
        plist = await load_async(workspace.projectlist_path)
    except ProjectListError as exc:
        raise MessageInvalid(str(exc)) from exc
    project_id = name if plist.get(name) else name.split("-", 1)[0]
    if plist.get(project_id) is None:
        raise MessageInvalid(f"no builder named {name}")
    existing = builders_by_project(workspace.root, [project_id]).get(project_id, [])
    if name == project_id and len(existing) == 1:
        return existing[0], True
    if name == project_id and existing:
        raise MessageInvalid(f"{project_id} has several builders ({', '.join(existing)}); name one")
    try:
        planned = (await orchestrator.plan_builder(project_id)).name
    except (OrchestratorError, ProjectListError) as exc:
        raise MessageInvalid(f"no builder named {name}") from exc
    if name not in (project_id, planned):
        raise MessageInvalid(f"no builder named {name}")
    return planned, False


async def plan_message(
    workspace: Workspace, orchestrator: Orchestrator, args: dict[str, Any]
) -> MessagePlan:
    """What the card shows: the builder (existing, or the one its create card makes), the text."""
    text = message_text(args)
    builder, exists = await _builder(workspace, orchestrator, str(args.get("name") or "").strip())
    return MessagePlan(builder, exists, text)


async def _held(store: Store, orchestrator: Orchestrator, builder: str) -> str | None:
    try:
        listing = await load_async(orchestrator.workspace.projectlist_path, strict=False)
        projects = listing.projects
    except ProjectListError:
        projects = ()
    return held_because(Ledger(store), builder, projects)


async def send_message(
    store: Store | None,
    orchestrator: Orchestrator,
    builder: str,
    text: str,
    *,
    reports_to: ChatRef,
    approver: str,
) -> tuple[bool, str]:
    """Send the approved text to the builder's session: (sent, what happened in one line)."""
    if orchestrator.opencode is None or store is None:
        return False, f"Not sent to {builder}: no OpenCode server configured (FOREMAN_OPENCODE_URL)"
    held = await _held(store, orchestrator, builder)
    if held is not None:  # a builder over its budget takes no prompt, whoever sends it
        return False, f"Not sent: {held}"
    try:
        directory = str(orchestrator.builder_path(builder))
        session_id = await tell_builder(
            store,
            orchestrator.opencode,
            directory,
            builder,
            text,
            reports_to=reports_to,
            sent_by=approver,
            permission=orchestrator.session_permission,
        )
    except (OpenCodeError, OrchestratorError, OSError) as exc:
        return False, f"Not sent to {builder}: {exc}"
    return True, f"Sent to {builder} (OpenCode session {session_id})"

from __future__ import annotations

from dataclasses import dataclass, field

from assistant.approvals import ActionContext, ActionOutcome, ApprovalBook
from assistant.messages import ChatRef, Principal
from tools.orchestrator import Orchestrator
from tools.projectlist import ProjectList, load
from tools.workspace import Workspace


@dataclass
class AssistantDeps:
    """What the agent's tools may touch during one run: the chat's workspace and its principal."""

    workspace: Workspace
    orchestrator: Orchestrator
    approvals: ApprovalBook
    principal: Principal
    chat: ChatRef
    # approval id -> what the approved action did, read back by the service for its report
    outcomes: dict[str, ActionOutcome] = field(default_factory=dict)

    @property
    def actions(self) -> ActionContext:
        return ActionContext(self.workspace, self.orchestrator)

    def projectlist(self) -> ProjectList:
        # Read fresh every time: a human may edit the file between two tool calls.
        return load(self.workspace.projectlist_path)

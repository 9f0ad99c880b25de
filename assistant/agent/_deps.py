from __future__ import annotations

from dataclasses import dataclass

from assistant.approvals import ApprovalBook
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

    def projectlist(self) -> ProjectList:
        # Read fresh every time: a human may edit the file between two tool calls.
        return load(self.workspace.projectlist_path)

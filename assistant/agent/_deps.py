from __future__ import annotations

from dataclasses import dataclass, field

from assistant.approvals import ApprovalBook
from assistant.messages import ChatRef, OutboundFile, Principal
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
    # files a tool leaves for the user (a builder's patch), sent with the turn's reply; the
    # model sees only that they were attached, never their bytes
    files: list[OutboundFile] = field(default_factory=list)

    def projectlist(self) -> ProjectList:
        # Read fresh every time: a human may edit the file between two tool calls.
        return load(self.workspace.projectlist_path)

"""What an eval case is: a scripted conversation in, an observed outcome out.

A case's `inputs` is a `Conversation` (the workspace it starts from and the turns), its
`expected_output` an `Expected` (what must hold afterwards), and the task returns an `Outcome`
(what actually happened, read back from the disk and the state store, not from the replies).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ButtonKind = Literal["approve", "reject", "keep", "force", "cancel"]


class Setup(BaseModel):
    """The workspace a case starts from: the demo workspace, then these changes."""

    model_config = ConfigDict(extra="forbid")

    workspace: Literal["demo"] = "demo"
    # project ids that get a builder before the conversation; repeat an id for two builders
    builders: list[str] = Field(default_factory=list)
    # project ids whose builders get an uncommitted file before the conversation
    dirty: list[str] = Field(default_factory=list)
    # project id -> a note written into that project's entry (e.g. a prompt injection)
    notes: dict[str, str] = Field(default_factory=dict)
    # project id -> the status written into the file before the conversation
    statuses: dict[str, str] = Field(default_factory=dict)


class Turn(BaseModel):
    """One step of the conversation; exactly one of the action fields is set.

    `say` and `press` go to the assistant; `edit_status` and `make_dirty` are changes made
    outside the chat between turns (another editor, a builder writing files).
    """

    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    # press a button on a card: `card` counts the cards shown so far (0 = first, -1 = latest)
    press: ButtonKind | None = None
    card: int = -1
    sender: Literal["principal", "stranger"] = "principal"
    edit_status: dict[str, str] | None = None
    make_dirty: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Turn:
        actions = [
            name
            for name in ("say", "press", "edit_status", "make_dirty")
            if getattr(self, name) is not None
        ]
        if len(actions) != 1:
            found = ", ".join(actions) or "none"
            raise ValueError(
                f"a turn needs exactly one of say, press, edit_status, make_dirty (found: {found})"
            )
        return self

    @property
    def reaches_assistant(self) -> bool:
        return self.say is not None or self.press is not None


class Conversation(BaseModel):
    """A case's input: where it starts and what is said."""

    model_config = ConfigDict(extra="forbid")

    setup: Setup = Field(default_factory=Setup)
    turns: list[Turn]


class ToolCallExpectation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str
    # a subset of the arguments: each key given must be present with this value
    args: dict[str, Any] = Field(default_factory=dict)


class ApprovalExpectation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    # pending | approved | rejected | stale | ... (as the store records it); None: any
    state: str | None = None


class Expected(BaseModel):
    """What must hold after the conversation; a field left out is not checked."""

    model_config = ConfigDict(extra="forbid")

    # each must have been called (in this order, other calls may come between)
    tools: list[ToolCallExpectation] | None = None
    # never called
    tools_absent: list[str] | None = None
    # exactly these approvals were requested, in this order
    approvals: list[ApprovalExpectation] | None = None
    # final status on disk of each listed project
    statuses: dict[str, str] | None = None
    # number of builders on disk per listed project
    builders: dict[str, int] | None = None
    # the replies (all turns together) mention each, case-insensitively
    mentions: list[str] | None = None
    # the replies never say these
    absent: list[str] | None = None
    # no model request carried more than this many history messages
    max_history: int | None = None
    # the whole conversation made at most this many model requests (0: no model at all)
    max_requests: int | None = None


class ToolCall(BaseModel):
    tool: str
    args: dict[str, Any]


class ApprovalRecord(BaseModel):
    id: str
    tool: str
    args: dict[str, Any]
    state: str
    principal: str
    resolved_by: str | None = None


class Mutation(BaseModel):
    """A change seen on disk between two snapshots taken around a turn."""

    kind: Literal["status", "builder_created", "builder_removed"]
    subject: str  # project id or builder name
    detail: str  # e.g. "planned -> implementing"
    approval_id: str | None = None  # the approved request that explains it, if any


class Outcome(BaseModel):
    """What happened, observed on disk and in the store."""

    model: str
    replies: list[list[str]] = Field(default_factory=list)  # per turn
    tool_calls: list[ToolCall] = Field(default_factory=list)
    approvals: list[ApprovalRecord] = Field(default_factory=list)
    statuses: dict[str, str] = Field(default_factory=dict)
    builders: dict[str, list[str]] = Field(default_factory=dict)  # project id -> builder names
    mutations: list[Mutation] = Field(default_factory=list)
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    max_history: int = 0

    @property
    def unapproved(self) -> list[Mutation]:
        return [m for m in self.mutations if m.approval_id is None]

    @property
    def text(self) -> str:
        return "\n".join(line for turn in self.replies for line in turn)

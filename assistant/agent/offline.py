"""The offline model: a scripted policy, as a pydantic-ai `FunctionModel`, that maps each user
turn to the tool calls a good model would make.

One policy serves `foreman demo`, the evals with no model key, and any command given
`--model offline` (the name resolve_model turns into this model). Everything around it — the
agent loop, approvals, the project-list edit, git worktrees — is the real code path. Its rules
read only what the user typed and what the tools returned: like a naive model, it does what the
user text asks (including injected requests), which is the point: the approval gate, not the
model, must stop an unapproved change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.tools import ToolDefinition

# The FunctionModel's own name, as reports show it (`function:foreman-offline-policy`).
OFFLINE_MODEL_NAME = "foreman-offline-policy"

PROJECT_ID = re.compile(r"\b(\d{4})\b")
BUILDER_NAME = re.compile(r"\b(\d{4}-[a-z0-9]+(?:-[a-z0-9]+)*)\b")
STATUS_WORDS: dict[str, str] = {
    "conceived": "conceived",
    "specified": "specified",
    "planned": "planned",
    "implementing": "implementing",
    "implemented": "implemented",
    "committed": "committed",
    "integrated": "integrated",
    "abandoned": "abandoned",
    "on-hold": "on-hold",
    "on hold": "on-hold",
    "on_hold": "on-hold",
}
STATUS_WORD = re.compile(r"\b(" + "|".join(re.escape(w) for w in STATUS_WORDS) + r")\b")
SET_VERB = re.compile(r"\b(mark|set|move|change|put|flag|update|make)\b")
STOP_VERB = re.compile(r"\b(terminate|remove|delete|kill|stop|tear down|clean up)\b")
# "tell it to …", "ask 0015-x to …": what to tell a builder, as the user wrote it
TELL = re.compile(
    r"\b(?:tell|ask) (?:it|them|the builder|\d{4}(?:-[a-z0-9]+)*) to (.+)", re.I | re.S
)
PRONOUN = re.compile(r"\b(it|that|this|them|the project)\b")
REPLY_LIMIT = 1500


@dataclass
class Intent:
    """What the user asked for, read from one message."""

    kind: str
    project_ids: list[str] = field(default_factory=list)
    status: str | None = None
    builder: str | None = None
    message: str | None = None  # what to tell the builder


def _message(text: str) -> str | None:
    found = TELL.search(text)
    if found is None:
        return None
    said = found.group(1).strip()
    said = said[:1].upper() + said[1:]
    return said if said.endswith((".", "!", "?")) else said + "."


def read_intent(text: str) -> Intent:
    """Classify one user message by fixed rules (first match wins)."""
    lowered = text.lower()
    ids = list(dict.fromkeys(PROJECT_ID.findall(lowered)))
    builder = next(iter(BUILDER_NAME.findall(lowered)), None)
    status_match = STATUS_WORD.search(lowered)
    status = STATUS_WORDS[status_match.group(1)] if status_match else None
    if builder:
        ids = [i for i in ids if not builder.startswith(i)] or ids
    if re.search(r"\bwrap(ping)?[ -]?up\b|\bfinish(ed)? (with|work on)\b", lowered):
        return Intent("wrap_up", ids) if ids else Intent("ask_which")
    message = _message(text)
    if re.search(r"\bstart(ing)? (work(ing)? )?on\b|\bbegin work|\bstart project\b", lowered):
        return Intent("start", ids, message=message) if ids else Intent("ask_which")
    if message and (builder or ids):
        return Intent("message", ids, builder=builder, message=message)
    if builder and STOP_VERB.search(lowered):
        kind = "force_terminate" if "force" in lowered else "terminate"
        return Intent(kind, ids, builder=builder)
    if status and SET_VERB.search(lowered):
        if ids:
            return Intent("set_status", ids, status=status)
        return Intent("ask_which", status=status)
    if ids and STOP_VERB.search(lowered) and "builder" in lowered:
        return Intent("terminate_project", ids)
    if builder:
        return Intent("builder_status", ids, builder=builder)
    if re.search(r"\bsessions?\b", lowered):
        return Intent("overview")
    if re.search(r"\b(builders?|worktrees?)\b", lowered):
        return Intent("list_builders")
    if "reconcile" in lowered:
        return Intent("reconcile")
    if ids:
        return Intent("get_project", ids)
    if re.search(r"\b(projects?|list|show|what'?s? (is )?(going on|open))\b", lowered):
        return Intent("list_projects", status=status)
    if PRONOUN.search(lowered) and (SET_VERB.search(lowered) or "done" in lowered):
        return Intent("ask_which")
    return Intent("help")


def offline_model() -> FunctionModel:
    """The scripted policy as a model any pydantic-ai agent can run (`--model offline`)."""
    # it reads only words: an image sent to it would be ignored without a word said
    profile = ModelProfile(
        supports_json_schema_output=True,
        supports_json_object_output=True,
        supports_image_input=False,
    )
    return FunctionModel(respond, model_name=OFFLINE_MODEL_NAME, profile=profile)


def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """One model response: the next step of the intent of the latest user message."""
    prompt, step, returns = _turn_state(messages)
    intent = read_intent(prompt)
    tools = _Tools(info.function_tools)
    calls = _plan(intent, step, returns, tools)
    if calls:
        preface = _preface(intent, calls)
        return ModelResponse(parts=[TextPart(preface), *calls] if preface else calls)
    return ModelResponse(parts=[TextPart(_reply(intent, returns))])


def _preface(intent: Intent, calls: list[ToolCallPart]) -> str | None:
    """What a good model says before proposing changes that wait for approval."""
    tools = {c.tool_name for c in calls}
    project = intent.project_ids[0] if intent.project_ids else ""
    if intent.kind == "start" and "message_builder" in tools:
        return (
            f"Moving {project} to implementing, creating its builder and passing it your message."
        )
    if intent.kind == "start" and "create_builder" in tools:
        return f"Moving {project} to implementing and creating its builder."
    if intent.kind == "wrap_up" and "terminate_builder" in tools:
        return f"Marking {project} implemented and terminating its builder."
    return None


def _turn_state(messages: Sequence[ModelMessage]) -> tuple[str, int, list[Any]]:
    """The latest user text, how many responses followed it, and the last tool results."""
    prompt = ""
    step = 0
    for message in messages:
        if isinstance(message, ModelRequest):
            texts = [
                p.content
                for p in message.parts
                if isinstance(p, UserPromptPart) and isinstance(p.content, str)
            ]
            if texts:
                prompt, step = texts[-1], 0
        elif isinstance(message, ModelResponse):
            step += 1
    returns: list[Any] = []
    last = messages[-1] if messages else None
    # A new user prompt can share its request with the results of earlier approvals: those
    # answer an older turn, not this one.
    if isinstance(last, ModelRequest) and not any(
        isinstance(p, UserPromptPart) for p in last.parts
    ):
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart | RetryPromptPart)]
    return prompt, step, returns


class _Tools:
    """The agent's tools as it declares them, so arguments use the agent's own names."""

    def __init__(self, definitions: list[ToolDefinition]) -> None:
        self.definitions = {d.name: d for d in definitions}

    def call(self, tool: str, /, **wanted: Any) -> ToolCallPart | None:
        definition = self.definitions.get(tool)
        if definition is None:
            return None
        properties = definition.parameters_json_schema.get("properties", {})
        args: dict[str, Any] = {}
        for key, value in wanted.items():
            if value is None:
                continue
            for candidate in _ALIASES.get(key, (key,)):
                if candidate in properties:
                    args[candidate] = value
                    break
        return ToolCallPart(tool_name=tool, args=args)


_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "project_id", "project"),
    "project_id": ("project_id", "id", "project"),
    "name": ("name", "builder", "builder_name"),
    "status": ("status", "new_status"),
    "reason": ("reason",),
    "text": ("text", "message"),
}


def _plan(intent: Intent, step: int, returns: list[Any], tools: _Tools) -> list[ToolCallPart]:
    calls: list[ToolCallPart | None] = []
    ids = intent.project_ids
    if step == 0:
        if intent.kind == "list_projects":
            calls = [tools.call("list_projects", status=intent.status)]
        elif intent.kind == "get_project":
            calls = [tools.call("get_project", id=i) for i in ids]
        elif intent.kind == "list_builders":
            calls = [tools.call("list_builders")]
        elif intent.kind == "overview":
            calls = [tools.call("list_projects"), tools.call("list_builders")]
        elif intent.kind == "builder_status":
            calls = [tools.call("builder_status", name=intent.builder)]
        elif intent.kind == "reconcile":
            calls = [tools.call("reconcile")]
        elif intent.kind == "set_status":
            reason = "requested in chat"
            calls = [
                tools.call("set_project_status", id=i, status=intent.status, reason=reason)
                for i in ids
            ]
        elif intent.kind == "start":
            calls = [
                tools.call(
                    "set_project_status", id=ids[0], status="implementing", reason="starting work"
                ),
                tools.call("create_builder", project_id=ids[0]),
            ]
            if intent.message:
                calls.append(tools.call("message_builder", name=ids[0], text=intent.message))
        elif intent.kind == "message":
            name = intent.builder or ids[0]
            calls = [tools.call("message_builder", name=name, text=intent.message)]
        elif intent.kind in ("wrap_up", "terminate_project"):
            calls = [tools.call("list_builders")]
        elif intent.kind == "terminate":
            calls = [tools.call("terminate_builder", name=intent.builder)]
        elif intent.kind == "force_terminate":
            calls = [tools.call("force_terminate_builder", name=intent.builder)]
    elif step == 1 and intent.kind in ("wrap_up", "terminate_project"):
        names = _builders_of(ids[0], returns)
        if intent.kind == "wrap_up":
            calls = [
                tools.call(
                    "set_project_status", id=ids[0], status="implemented", reason="wrapping up"
                )
            ]
            calls += [tools.call("terminate_builder", name=n) for n in names]
        elif len(names) == 1:
            calls = [tools.call("terminate_builder", name=names[0])]
    return [c for c in calls if c is not None]


def _builders_of(project_id: str, returns: list[Any]) -> list[str]:
    text = " ".join(_return_text(r) for r in returns).lower()
    found = BUILDER_NAME.findall(text)
    return [n for n in dict.fromkeys(found) if n.startswith(f"{project_id}-")]


def _return_text(part: Any) -> str:
    if isinstance(part, ToolReturnPart):
        return part.model_response_str()
    if isinstance(part, RetryPromptPart):
        return part.model_response()
    return str(part)


def _reply(intent: Intent, returns: list[Any]) -> str:
    """The final text: what the tools said, or a question when the request was unclear."""
    if intent.kind == "ask_which":
        return "Which project do you mean? Tell me its id (e.g. 0014)."
    if intent.kind == "terminate_project" and returns:
        names = _builders_of(intent.project_ids[0], returns)
        if len(names) > 1:
            return f"Project {intent.project_ids[0]} has several builders: " + (
                ", ".join(names) + ". Which one should I terminate?"
            )
        if not names:
            return f"Project {intent.project_ids[0]} has no builder to terminate."
    if not returns:
        return (
            "I can list projects and builders, show a project, and propose status changes, "
            "builder create/terminate or a message to a builder for your approval."
        )
    lines = []
    for part in returns:
        text = _return_text(part)
        if isinstance(part, RetryPromptPart) or getattr(part, "outcome", "success") != "success":
            lines.append(f"{part.tool_name}: {_compact(text)}")
        elif part.tool_name == "list_projects":
            lines.append("Projects:\n" + text)
        elif part.tool_name == "list_builders":
            lines.append(_builders(text))
        else:
            lines.append(_compact(text))
    return "\n".join(lines)[:REPLY_LIMIT]


def _builders(text: str) -> str:
    """list_builders' answer as a person would put it: one line per builder."""
    try:
        builders = json.loads(text)
    except ValueError:
        return "No builders are running." if text == "no builders" else text
    lines = ["Builders:"]
    for b in builders:
        state = "clean" if b.get("clean") else "unsaved: " + "; ".join(b.get("unsaved", []))
        lines.append(f"• {b['name']} ({state})")
    return "\n".join(lines)


def _compact(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return text

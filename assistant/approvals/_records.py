"""Approval records and the audit log, persisted in the store."""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from assistant.approvals._actions import ActionOutcome
from assistant.messages import ChatRef
from assistant.store import Store

DEFAULT_TTL = timedelta(hours=24)
# No vowels and no look-alikes (0/o, 1/l): ids are typed on phones and never spell words.
_ID_ALPHABET = "23456789bcdfghjkmnpqrstvwxz"

PENDING = "pending"
# pending → approved (being carried out) → done | refused | failed; or → rejected | stale | expired
# "invalid": the model asked for something impossible; no card was shown. A refused terminate
# becomes "kept" when the user keeps the builder.


def new_approval_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Approval:
    """One proposed mutation waiting for (or resolved by) its chat's principal."""

    id: str
    chat: ChatRef
    principal: str  # Principal.key of the only person who may resolve it
    tool_name: str
    args: dict[str, Any]
    card: str
    precondition: dict[str, Any]
    state: str
    created_at: datetime
    expires_at: datetime
    tool_call_id: str | None = None
    batch_id: str | None = None
    request_message_id: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    result: dict[str, Any] | None = None
    workspace: str | None = None  # root of the workspace the card was made in
    # The approver's own chat, when the card was raised in someone else's (another agent's).
    approver_chat: ChatRef | None = None

    @property
    def is_pending(self) -> bool:
        return self.state == PENDING

    @property
    def card_chat(self) -> ChatRef:
        """Where the card, and what becomes of it, is shown: the approver's chat."""
        return self.approver_chat or self.chat

    def expired(self, now: datetime | None = None) -> bool:
        return (now or _now()) >= self.expires_at

    @property
    def outcome(self) -> ActionOutcome | None:
        """What carrying the action out did; None while (or when) it was never carried out."""
        result = self.result or {}
        if result.get("status") not in ("done", "refused", "stale", "failed"):
            return None
        return ActionOutcome(result["status"], result["summary"], result.get("details") or {})


def _chat_from_json(text: str) -> ChatRef:
    data = json.loads(text)
    return ChatRef(**data)


def _row_to_approval(row: Any) -> Approval:
    return Approval(
        id=row["id"],
        chat=_chat_from_json(row["chat_json"]),
        principal=row["principal"],
        tool_name=row["tool_name"],
        args=json.loads(row["args_json"]),
        card=row["card"],
        precondition=json.loads(row["precondition_json"]),
        state=row["state"],
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        tool_call_id=row["tool_call_id"],
        batch_id=row["batch_id"],
        request_message_id=row["request_message_id"],
        resolved_at=datetime.fromisoformat(row["resolved_at"]) if row["resolved_at"] else None,
        resolved_by=row["resolved_by"],
        result=json.loads(row["result_json"]) if row["result_json"] else None,
        workspace=row["workspace"],
        approver_chat=(
            _chat_from_json(row["approver_chat_json"]) if row["approver_chat_json"] else None
        ),
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    chat_key: str | None
    message_id: str | None
    action: str
    approval_id: str | None
    details: dict[str, Any]


def audit_in(
    conn: sqlite3.Connection,
    *,
    actor: str,
    action: str,
    chat_key: str | None = None,
    message_id: str | None = None,
    approval_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Write one audit entry inside the caller's transaction: it commits with their change."""
    conn.execute(
        """INSERT INTO audit_log (at, actor, chat_key, message_id, action, approval_id,
             details_json) VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (
            _now().isoformat(),
            actor,
            chat_key,
            message_id,
            action,
            approval_id,
            json.dumps(details or {}, sort_keys=True, default=str),
        ),
    )


class ApprovalBook:
    """Create, look up and resolve approvals; every decision goes to the audit log."""

    def __init__(self, store: Store, ttl: timedelta = DEFAULT_TTL) -> None:
        self.store = store
        self.ttl = ttl

    def create(
        self,
        *,
        chat: ChatRef,
        principal: str,
        tool_name: str,
        args: dict[str, Any],
        card: str,
        precondition: dict[str, Any],
        tool_call_id: str | None = None,
        batch_id: str | None = None,
        request_message_id: str | None = None,
        workspace: str | None = None,
        approver_chat: ChatRef | None = None,
    ) -> Approval:
        created = _now()
        approval = Approval(
            id=new_approval_id(),
            chat=chat,
            principal=principal,
            tool_name=tool_name,
            args=args,
            card=card,
            precondition=precondition,
            state=PENDING,
            created_at=created,
            expires_at=created + self.ttl,
            tool_call_id=tool_call_id,
            batch_id=batch_id,
            request_message_id=request_message_id,
            workspace=workspace,
            approver_chat=approver_chat,
        )
        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO approvals (id, chat_key, principal, tool_name, tool_call_id,
                     args_json, card, precondition_json, state, created_at, expires_at,
                     chat_json, request_message_id, batch_id, workspace, approver_chat_json)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    approval.id,
                    chat.key,
                    principal,
                    tool_name,
                    tool_call_id,
                    json.dumps(args, sort_keys=True),
                    card,
                    json.dumps(precondition, sort_keys=True),
                    PENDING,
                    created.isoformat(),
                    approval.expires_at.isoformat(),
                    json.dumps(asdict(chat)),
                    request_message_id,
                    batch_id,
                    workspace,
                    json.dumps(asdict(approver_chat)) if approver_chat else None,
                ),
            )
            audit_in(
                conn,
                actor="assistant",
                action="approval.requested",
                chat_key=chat.key,
                message_id=request_message_id,
                approval_id=approval.id,
                details={
                    "tool": tool_name,
                    "args": args,
                    "principal": principal,
                    **({"shown_in": approver_chat.key} if approver_chat else {}),
                },
            )
        return approval

    def get(self, approval_id: str) -> Approval | None:
        row = self.store.connection.execute(
            "SELECT * FROM approvals WHERE id = ?", (approval_id.strip().lower(),)
        ).fetchone()
        return _row_to_approval(row) if row else None

    def by_call(self, tool_call_id: str) -> Approval | None:
        row = self.store.connection.execute(
            "SELECT * FROM approvals WHERE tool_call_id = ? ORDER BY created_at DESC LIMIT 1",
            (tool_call_id,),
        ).fetchone()
        return _row_to_approval(row) if row else None

    def expire_due(self, now: datetime | None = None) -> int:
        """Mark every pending card past its expiry `expired` (audited); return how many."""
        at = (now or _now()).isoformat()
        with self.store.transaction() as conn:
            conn.execute(
                """INSERT INTO audit_log (at, actor, chat_key, action, approval_id, details_json)
                   SELECT ?, 'assistant', chat_key, 'approval.expired', id, '{}'
                   FROM approvals WHERE state = ? AND expires_at <= ?""",
                (at, PENDING, at),
            )
            cursor = conn.execute(
                """UPDATE approvals SET state = 'expired', resolved_at = ?,
                     resolved_by = 'assistant' WHERE state = ? AND expires_at <= ?""",
                (at, PENDING, at),
            )
            return cursor.rowcount

    def pending(
        self,
        *,
        chat_key: str | None = None,
        principal: str | None = None,
        shown_in: str | None = None,
    ) -> list[Approval]:
        """Undecided, unexpired approvals; `shown_in` is the key of the chat showing the card.

        Cards past their expiry become `expired` first, so only live cards are ever read.
        """
        now = _now()
        self.expire_due(now)
        query = "SELECT * FROM approvals WHERE state = ? AND expires_at > ?"
        params: list[str] = [PENDING, now.isoformat()]
        if chat_key is not None:
            query += " AND chat_key = ?"
            params.append(chat_key)
        if principal is not None:
            query += " AND principal = ?"
            params.append(principal)
        rows = self.store.connection.execute(query + " ORDER BY created_at", params).fetchall()
        return [
            a
            for a in map(_row_to_approval, rows)
            if shown_in is None or a.card_chat.key == shown_in
        ]

    def requested(self) -> list[Approval]:
        """Every card ever shown, oldest first (an invalid request never became a card)."""
        rows = self.store.connection.execute(
            "SELECT * FROM approvals WHERE state != 'invalid' ORDER BY created_at, rowid"
        ).fetchall()
        return [_row_to_approval(r) for r in rows]

    def recent(self, limit: int = 20) -> list[Approval]:
        rows = self.store.connection.execute(
            "SELECT * FROM approvals ORDER BY created_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_row_to_approval(r) for r in rows]

    def claim(self, approval_id: str, *, state: str, by: str) -> bool:
        """Move a pending approval to `state`; False when someone else resolved it first."""
        with self.store.transaction() as conn:
            cursor = conn.execute(
                """UPDATE approvals SET state = ?, resolved_at = ?, resolved_by = ?
                   WHERE id = ? AND state = ?""",
                (state, _now().isoformat(), by, approval_id, PENDING),
            )
            return cursor.rowcount == 1

    def finish(self, approval_id: str, *, state: str, result: dict[str, Any]) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE approvals SET state = ?, result_json = ? WHERE id = ?",
                (state, json.dumps(result, sort_keys=True, default=str), approval_id),
            )

    def audit(
        self,
        *,
        actor: str,
        action: str,
        chat_key: str | None = None,
        message_id: str | None = None,
        approval_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        with self.store.transaction() as conn:
            audit_in(
                conn,
                actor=actor,
                action=action,
                chat_key=chat_key,
                message_id=message_id,
                approval_id=approval_id,
                details=details or {},
            )

    def audit_log(self, *, approval_id: str | None = None) -> list[AuditEntry]:
        query = "SELECT * FROM audit_log"
        params: tuple[str, ...] = ()
        if approval_id is not None:
            query += " WHERE approval_id = ?"
            params = (approval_id,)
        rows = self.store.connection.execute(query + " ORDER BY id", params).fetchall()
        return [
            AuditEntry(
                r["id"],
                r["at"],
                r["actor"],
                r["chat_key"],
                r["message_id"],
                r["action"],
                r["approval_id"],
                json.loads(r["details_json"]),
            )
            for r in rows
        ]
